"""Salesforce id helpers: case-safe suffix, generation, validation, normalisation."""

from __future__ import annotations

import pytest

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
