"""The inline SVG charts: their figures as text for screen readers, names escaped."""

from __future__ import annotations

import re

from connector.web.charts import bars, sparkline


def test_a_sparkline_says_its_figures_and_scales_to_the_largest() -> None:
    svg = str(sparkline([0, 5, 10], "changes per cycle", width=100, height=40))
    assert "<desc>changes per cycle, oldest first: 0, 5, 10</desc>" in svg
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys[0] == 38.0 and ys[2] == 2.0 and ys[0] > ys[1] > ys[2]
    assert "no runs yet" in str(sparkline([], "changes"))


def test_bars_escape_names_and_write_each_count() -> None:
    svg = str(bars([("enrolled", 8), ("<script>x</script>", 3)], "funnel <b>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "funnel &lt;b&gt;" in svg
    assert re.findall(r">(\d+)</text>", svg) == ["8", "3"]
