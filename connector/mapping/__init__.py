"""The field mapping between Salesforce and the local PRM store (pure: no HTTP, no database).

mapping.yaml is loaded into a ``MappingSpec`` (``spec``); ``mapper`` converts rows both ways
through the named ``transforms``; ``validate`` checks a spec against the org's describe and
``scaffold`` writes a starter mapping for one sObject; ``validate_store`` checks it against
the store's tables.
"""

from connector.mapping.loader import load_mapping, loads_mapping
from connector.mapping.mapper import (
    MappingError,
    as_local,
    canonical,
    diff,
    fingerprint,
    same_value,
    to_crm,
    to_local,
)
from connector.mapping.scaffold import scaffold
from connector.mapping.spec import Conflict, Direction, EntityMapping, FieldMapping, MappingSpec
from connector.mapping.transforms import REGISTRY, LocalType
from connector.mapping.validate import validate_against_describe
from connector.mapping.validate_store import validate_against_store

__all__ = [
    "REGISTRY",
    "Conflict",
    "Direction",
    "EntityMapping",
    "FieldMapping",
    "LocalType",
    "MappingError",
    "MappingSpec",
    "as_local",
    "canonical",
    "diff",
    "fingerprint",
    "load_mapping",
    "loads_mapping",
    "same_value",
    "scaffold",
    "to_crm",
    "to_local",
    "validate_against_describe",
    "validate_against_store",
]
