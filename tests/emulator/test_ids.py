"""Salesforce id helpers: case-safe suffix, generation, validation, normalisation."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.emulator.ids import is_valid_id, make_id, normalize, to18


def test_known_example_suffix() -> None:
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert normalize("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert normalize("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"


def test_make_id_shape_and_uniqueness() -> None:
    ids = {make_id("001", n) for n in range(5000)}
    assert len(ids) == 5000
    one = make_id("001", 1)
    assert one == "0015g0000000001AAA"
    assert all(len(i) == 18 and i.startswith("0015g") and is_valid_id(i) for i in ids)
    assert make_id("006", 10_000_001) != make_id("006", 10_000_002)


def test_is_valid_id() -> None:
    assert is_valid_id("001A0000006Vm9r")
    assert is_valid_id("001A0000006Vm9rIAC")
    assert not is_valid_id("001A0000006Vm9rAAA")  # wrong suffix
    assert not is_valid_id("001A0000006Vm9")
    assert not is_valid_id("001A0000006Vm9r-AC")
    assert not is_valid_id(None)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        normalize("nope")
    with pytest.raises(ValueError):
        make_id("01", 1)
    with pytest.raises(ValueError):
        make_id("001", 62**10)


ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALNUM, min_size=15, max_size=15))
def test_suffix_makes_ids_case_insensitively_unique(id15: str) -> None:
    full = to18(id15)
    assert full[:15] == id15 and is_valid_id(full)
    assert normalize(id15) == normalize(full) == full
    swapped = id15.swapcase()
    if swapped != id15:
        assert to18(swapped).lower() != full.lower()


def test_make_id_is_a_counter() -> None:
    assert make_id("a01", 61)[:15] == "a015g000000000z"
    assert make_id("a01", 62)[:15] == "a015g0000000010"
    assert [make_id("006", n) for n in range(3)] == [make_id("006", n) for n in range(3)]
