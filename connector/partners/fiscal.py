"""Fiscal quarters: which quarter a day falls in, its bounds, and the ones before it (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["Quarter", "quarter_of"]


@dataclass(frozen=True, order=True)
class Quarter:
    """A fiscal quarter; ``year`` is the fiscal year, named for the calendar year it ends in."""

    year: int
    q: int  # 1..4
    start_month: int = 1  # the month the fiscal year starts in

    @property
    def label(self) -> str:
        """``FY2026-Q3``: stable text for firing keys and external ids."""
        return f"FY{self.year}-Q{self.q}"

    @property
    def start(self) -> date:
        """The quarter's first day."""
        months = (self.start_month - 1) + (self.q - 1) * 3
        # a fiscal year starting after January began in the previous calendar year
        cal_year = self.year - (1 if self.start_month != 1 else 0)
        return date(cal_year + months // 12, months % 12 + 1, 1)

    @property
    def end(self) -> date:
        """The first day after the quarter (exclusive bound)."""
        return self.shift(1).start

    def shift(self, n: int) -> Quarter:
        """The quarter ``n`` quarters later (earlier when negative)."""
        index = self.year * 4 + (self.q - 1) + n
        return Quarter(index // 4, index % 4 + 1, self.start_month)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end


def quarter_of(day: date, start_month: int = 1) -> Quarter:
    """The fiscal quarter containing ``day`` when the fiscal year starts in ``start_month``."""
    if not 1 <= start_month <= 12:
        raise ValueError(f"fiscal year start month must be 1..12 (got {start_month})")
    offset = (day.month - start_month) % 12
    year = day.year + (1 if start_month != 1 and day.month >= start_month else 0)
    return Quarter(year, offset // 3 + 1, start_month)
