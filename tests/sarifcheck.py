"""SARIF 2.1.0 validation for tests.

No package on the index ships the official JSON Schema; ``sarif-pydantic`` models the SARIF
2.1.0 object model.  Its models accept unknown properties (``extra="allow"``), so a misspelt
property would pass silently: every model in the parsed tree must have no extra properties
(property bags, ``properties``, are the spec's place for tool-specific data).  On top, the
rules of the spec the models leave out that code scanning relies on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sarif_pydantic import Sarif

LEVELS = {"none", "note", "warning", "error"}
# Properties SARIF 2.1.0 defines that sarif-pydantic 0.6's models leave out.
NOT_MODELLED = {"Invocation": {"exitCode"}}  # SARIF 2.1.0 section 3.20.17


def validate_sarif(document: Any) -> Sarif:
    log = Sarif.model_validate(document)
    _no_extras(log, "$")
    assert log.version == "2.1.0"
    for run in log.runs:
        rules = run.tool.driver.rules or []
        ids = [r.id for r in rules]
        assert len(ids) == len(set(ids)), "rule IDs must be unique"
        for result in run.results or []:
            assert result.rule_id in ids, result.rule_id
            if result.rule_index is not None:
                assert ids[result.rule_index] == result.rule_id
            assert result.level is None or result.level.value in LEVELS
            assert result.message.text
            for location in result.locations or []:
                physical = location.physical_location
                assert physical is not None and physical.artifact_location is not None
                assert physical.artifact_location.uri
                base = physical.artifact_location.uri_base_id
                assert base is None or base in (run.original_uri_base_ids or {})
                region = physical.region
                assert region is not None and region.start_line is not None
                assert region.start_line >= 1
                assert region.start_column is None or region.start_column >= 1
    return log


def _no_extras(value: Any, where: str) -> None:
    if isinstance(value, BaseModel):
        extra = set(value.model_extra or {}) - NOT_MODELLED.get(type(value).__name__, set())
        assert not extra, f"{where}: properties SARIF 2.1.0 does not define: {sorted(extra)}"
        for name in type(value).model_fields:
            if name != "properties":
                _no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_extras(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_extras(item, f"{where}.{key}")
