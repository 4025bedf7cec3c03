"""Shared fixtures: the shipped mapping and a describe of the default org schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.mapping import MappingSpec, load_mapping

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAPPING = ROOT / "config" / "mapping.yaml"
DESCRIBE_JSON = Path(__file__).parent / "fixtures" / "describe.json"


def load_describes() -> dict[str, dict[str, Any]]:
    """sObject name -> describe, for every object of docs/model.md (a recorded fixture)."""
    data: dict[str, dict[str, Any]] = json.loads(DESCRIBE_JSON.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def default_spec() -> MappingSpec:
    return load_mapping(DEFAULT_MAPPING)


@pytest.fixture(scope="session")
def describes() -> dict[str, dict[str, Any]]:
    return load_describes()
