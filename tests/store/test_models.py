"""The entity tables follow docs/model.md exactly: entities, local fields and their types."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from connector.store.models import (
    COMMON_COLUMNS,
    ENTITY_MODELS,
    column_types,
    entity_table,
    lookup_targets,
)

MODEL_MD = Path(__file__).resolve().parents[2] / "docs" / "model.md"


def _local_type(doc_type: str) -> str:
    """docs/model.md's type column -> the local type name column_types() reports."""
    if doc_type.startswith("lookup"):
        return "lookup"
    if "kept locally as a float" in doc_type:
        return "float"
    head = re.split(r"[\s(:]", doc_type, maxsplit=1)[0]
    return {
        "string": "str",
        "combobox": "str",
        "textarea": "str",
        "picklist": "str",
        "multipicklist": "str",
        "email": "str",
        "phone": "str",
        "url": "str",
        "reference": "str",
        "boolean": "bool",
        "double": "float",
        "currency": "float",
        "percent": "float",
        "int": "int",
        "date": "date",
        "datetime": "datetime",
    }[head]


def _documented() -> dict[str, dict[str, tuple[str, str | None]]]:
    """entity -> local field -> (local type, lookup target), read from the table in model.md."""
    out: dict[str, dict[str, tuple[str, str | None]]] = {}
    entity = ""
    for line in MODEL_MD.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] in ("entity", "---") or set(cells[0]) == {"-"}:
            continue
        entity = cells[0] or entity
        doc_type = cells[4]
        target = doc_type.split("->", 1)[1].strip() if doc_type.startswith("lookup") else None
        out.setdefault(entity, {})[cells[2]] = (_local_type(doc_type), target)
    return out


DOCUMENTED = _documented()


def test_model_md_was_parsed() -> None:
    """The parser found the eleven entities (guards the tests below from passing vacuously)."""
    assert len(DOCUMENTED) == 12
    assert DOCUMENTED["membership"]["level"] == ("lookup", "level")


def test_there_is_one_table_per_documented_entity() -> None:
    """ENTITY_MODELS names exactly the entities of docs/model.md, table name = entity name."""
    assert list(ENTITY_MODELS) == list(DOCUMENTED)
    for name, model in ENTITY_MODELS.items():
        assert model.__tablename__ == name


@pytest.mark.parametrize("entity", list(DOCUMENTED))
def test_columns_and_types_match_the_document(entity: str) -> None:
    """Business columns and their local types are those of docs/model.md, no more, no less."""
    assert column_types(entity) == {f: t for f, (t, _) in DOCUMENTED[entity].items()}
    assert lookup_targets(entity) == {f: tgt for f, (_, tgt) in DOCUMENTED[entity].items() if tgt}


@pytest.mark.parametrize("entity", list(DOCUMENTED))
def test_every_entity_has_the_common_columns(entity: str) -> None:
    """id, sf_id (unique), sf_modstamp, ... exist; business columns are all nullable."""
    table = entity_table(entity)
    assert set(table.c.keys()) >= COMMON_COLUMNS
    assert any(ix.unique and [c.name for c in ix.columns] == ["sf_id"] for ix in table.indexes)
    for name in column_types(entity):
        assert table.c[name].nullable, name
    assert table.c.sf_modstamp.type.impl.timezone  # type: ignore[attr-defined]


def test_prm_key_is_unique_where_it_exists() -> None:
    """Entities with an external id have a unique index on prm_key."""
    with_key = {e for e in ENTITY_MODELS if "prm_key" in column_types(e)}
    assert with_key == {"certification", "eligibility", "mdf_allocation", "task"}
    for entity in with_key:
        uniques = [[c.name for c in ix.columns] for ix in entity_table(entity).indexes if ix.unique]
        assert ["prm_key"] in uniques


def test_unknown_entity_names_the_known_ones() -> None:
    """A typo in an entity name says which names exist."""
    with pytest.raises(KeyError, match="known: partner, program"):
        entity_table("partners")


def test_a_migrated_store_has_every_entity_table(engine: Engine) -> None:
    """Migrations create a table for every entity model (the schema comparison in
    test_migrations only sees tables that are on SQLModel.metadata)."""
    assert set(ENTITY_MODELS) <= set(inspect(engine).get_table_names())
