"""The JSON Schemas in docs/schemas, for tests that validate what trustbuild writes.

Every ``--format json`` document the suite's runs of the ``trustbuild`` command print is
validated (tests/cli.py runs the command through :func:`validate_output`); tests that build
documents through the library call the ``validate_*`` functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"
# The schema of each command's --format json output.
COMMAND_SCHEMAS = {"check": "check", "refs": "refs", "inspect": "inspect", "scan": "scan",
                   "policy": "policy"}


@cache
def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        resources.append((path.name, Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def validate(schema: str, document: Any) -> None:
    validator(f"{schema}.schema.json").validate(document)


def validate_lock(document: Any) -> None:
    """Every lock a test writes goes through here."""
    validate("lock", document)


def validate_scan(document: Any) -> None:
    validate("scan", document)


def json_format(args: Sequence[str]) -> bool:
    for i, word in enumerate(args):
        if word == "--format=json" or (word == "--format" and list(args[i + 1:i + 2]) == ["json"]):
            return True
    return False


def command_of(args: Sequence[str]) -> str:
    """The command a ``trustbuild`` command line runs (``build`` by default)."""
    for word in args:
        if not word.startswith("-"):
            return word if word in COMMAND_SCHEMAS or word in ("build", "pin", "lock", "help") \
                else "build"
        return "build"
    return "build"


def validate_output(args: Sequence[str], stdout: str) -> None:
    """A ``--format json`` run's standard output is one JSON document of its command's
    schema (a ``-o FILE`` run writes it elsewhere, and prints nothing)."""
    if not json_format(args):
        return
    command = command_of(args)
    if command not in COMMAND_SCHEMAS:
        return
    if not stdout.strip() and ("-o" in args or any(a.startswith("--output") for a in args)):
        return
    validate(COMMAND_SCHEMAS[command], json.loads(stdout))
