"""Company-name normalisation, domains, fiscal quarters and cron slots (pure helpers)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.partners.fiscal import quarter_of
from connector.triggers.conflict import normalise_company, normalise_domain, same_customer
from connector.triggers.scheduled import last_slot


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ACME, Inc.", "Acme Incorporated"),
        ("Globex Corporation", "globex corp"),
        ("Initech GmbH", "INITECH"),
        ("The Hooli Company", "Hooli Co."),
        ("Müller & Söhne AG", "Muller and Sohne"),
        ("Wayne   Enterprises, LLC", "wayne enterprises"),
        ("Soylent B.V.", "Soylent BV"),
    ],
)
def test_names_equal_after_normalising_are_the_same_customer(a: str, b: str) -> None:
    """Case, punctuation, whitespace, accents and legal suffixes do not tell customers apart."""
    assert normalise_company(a) == normalise_company(b)
    assert same_customer({"end_customer_name": a}, {"end_customer_name": b})


def test_different_names_and_suffix_only_names_stay_apart() -> None:
    """Acme is not Acme Labs; a name that is only a suffix ("Co") is kept."""
    assert not same_customer({"end_customer_name": "Acme"}, {"end_customer_name": "Acme Labs"})
    assert normalise_company("Co") == "co"
    assert not same_customer({"end_customer_name": ""}, {"end_customer_name": ""})


@pytest.mark.parametrize(
    "value", ["acme.com", "https://www.acme.com/contact", "jane@ACME.com", "http://acme.com:8080"]
)
def test_domains_from_urls_and_emails_match(value: str) -> None:
    """An email, a URL or a bare domain of the same company normalise to one domain."""
    assert normalise_domain(value) == "acme.com"
    assert same_customer({"end_customer_domain": value}, {"end_customer_domain": "acme.com"})


@given(st.text(max_size=40))
def test_normalising_a_name_twice_changes_nothing(name: str) -> None:
    """normalise_company is idempotent."""
    once = normalise_company(name)
    assert normalise_company(once) == once


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(min_value=1, max_value=12))
def test_every_day_lies_in_its_quarter_and_quarters_tile_the_year(day: date, start: int) -> None:
    """The quarter of a day contains it; the next quarter starts where this one ends."""
    q = quarter_of(day, start)
    assert q.start <= day < q.end
    assert q.shift(1).start == q.end and q.shift(-1).end == q.start
    assert q.shift(4).start.month == q.start.month
    assert quarter_of(q.start, start) == q


def test_a_fiscal_year_starting_in_october_names_the_year_it_ends_in() -> None:
    """With a 1 October start, 15 Nov 2026 is FY2027 Q1, last quarter is FY2026 Q4."""
    q = quarter_of(date(2026, 11, 15), 10)
    assert (q.label, q.start, q.shift(-1).label) == ("FY2027-Q1", date(2026, 10, 1), "FY2026-Q4")


@pytest.mark.parametrize(
    ("cron", "now", "slot"),
    [
        ("0 1 * * *", datetime(2026, 11, 30, 0, 30, tzinfo=UTC),
         datetime(2026, 11, 29, 1, 0, tzinfo=UTC)),
        ("0 1 * * *", datetime(2026, 11, 30, 1, 0, tzinfo=UTC),
         datetime(2026, 11, 30, 1, 0, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 11, 30, 10, 44, 59, tzinfo=UTC),
         datetime(2026, 11, 30, 10, 30, tzinfo=UTC)),
        ("0 2 1 1,4,7,10 *", datetime(2026, 11, 30, tzinfo=UTC),
         datetime(2026, 10, 1, 2, 0, tzinfo=UTC)),
    ],
)
def test_the_slot_is_the_latest_cron_time_at_or_before_now(
    cron: str, now: datetime, slot: datetime
) -> None:
    """A late or repeated run in one slot keys its firings to the same slot."""
    assert last_slot(cron, now) == slot
