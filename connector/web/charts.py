"""Small charts as inline SVG, drawn on the server (no script, no library; allowed by the CSP
because they are markup, not code). Each has a text title and description for screen readers."""

from __future__ import annotations

from markupsafe import Markup, escape

__all__ = ["bars", "sparkline"]


def sparkline(values: list[int | float], label: str, width: int = 240, height: int = 40) -> Markup:
    """A line over ``values`` (oldest first), with the label and the figures as its text."""
    if not values:
        return Markup(f"<p>{escape(label)}: no runs yet</p>")
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}"
                      for i, v in enumerate(values))
    figures = ", ".join(str(v) for v in values)
    return Markup(
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(label)}</title>'
        f"<desc>{escape(label)}, oldest first: {escape(figures)}</desc>"
        f'<polyline fill="none" stroke="currentColor" stroke-width="2" points="{points}"/>'
        f"</svg>")


def bars(items: list[tuple[str, int]], label: str, width: int = 320) -> Markup:
    """Horizontal bars (a funnel), each with its name and count written beside it."""
    if not items:
        return Markup("")
    top = max(n for _, n in items) or 1
    row = 22
    parts = [f'<svg class="chart" role="img" width="{width}" height="{row * len(items)}" '
             f'viewBox="0 0 {width} {row * len(items)}"><title>{escape(label)}</title>'
             f"<desc>{escape(', '.join(f'{k} {n}' for k, n in items))}</desc>"]
    for i, (name, n) in enumerate(items):
        w = max(1, int((width - 200) * n / top))
        parts.append(f'<rect x="150" y="{i * row + 3}" width="{w}" height="{row - 6}" '
                     f'fill="currentColor" opacity="0.35"/>'
                     f'<text x="0" y="{i * row + 15}" font-size="12">{escape(name[:22])}</text>'
                     f'<text x="{155 + w}" y="{i * row + 15}" font-size="12">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
