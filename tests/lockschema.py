"""The JSON Schemas in docs/schemas, for tests that validate what trustbuild writes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_lock(document: Any) -> None:
    """Every lock a test writes goes through here."""
    validator("lock.schema.json").validate(document)


def validate_scan(document: Any) -> None:
    validator("scan.schema.json").validate(document)
