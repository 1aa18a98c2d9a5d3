"""The published JSON Schemas: valid, in step with the code, and able to fail."""

from __future__ import annotations

import json

import pytest
from jsonschema import ValidationError

from tests.schemas import SCHEMAS, validate, validate_output, validator
from trustbuild.errors import Reason

DIGEST = "sha256:" + "a" * 64


def test_every_schema_is_valid_json_schema() -> None:
    names = sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    assert {"check.schema.json", "refs.schema.json", "inspect.schema.json",
            "policy.schema.json", "scan.schema.json", "lock.schema.json",
            "common.schema.json"} <= set(names)
    for name in names:
        validator(name)


def test_the_reason_codes_are_the_codes_the_code_has() -> None:
    common = json.loads((SCHEMAS / "common.schema.json").read_text())
    assert set(common["$defs"]["reason"]["enum"]) == {r.value for r in Reason} | {None}


def _verdict(**changes: object) -> dict[str, object]:
    verdict: dict[str, object] = {
        "reference": "reg.example/app:1", "written": "reg.example/app:1",
        "expanded": "reg.example/app:1", "tag": "1", "instruction": "FROM", "line": 1,
        "column": 6, "stage": None, "stage_index": 0, "platform": "linux/amd64",
        "from_args": False, "status": "trusted", "digest": DIGEST, "role": "targets",
        "reason": None, "message": None, "hint": None, "signed_by": [], "expires": None,
        "notes": [], "server": "notary.example:4443"}
    verdict.update(changes)
    return verdict


def _check(*images: dict[str, object]) -> dict[str, object]:
    return {"schema_version": 1, "dockerfile": "Dockerfile",
            "reader": {"kind": "rules", "version": "buildkit", "description": "x",
                       "rules": ["buildkit"], "reason": "y"},
            "mode": "enforce", "ok": True, "passed": True, "exit_code": 0,
            "images": list(images), "servers_failed": [], "warnings": []}


def test_a_check_report_validates_and_broken_ones_do_not() -> None:
    validate("check", _check(_verdict()))
    for broken in (_verdict(digest="a" * 64),  # a digest in another form
                   _verdict(line="3"),  # a number as text
                   _verdict(stage=0),  # the index where the name goes
                   _verdict(status="fine"), _verdict(reason="sort-of")):
        with pytest.raises(ValidationError):
            validate("check", _check(broken))


def test_the_command_runs_are_validated_by_their_command() -> None:
    good = json.dumps(_check(_verdict()))
    validate_output(["check", "--format", "json", "."], good)
    validate_output(["check", "."], "not json: text output is not validated")
    with pytest.raises(ValidationError):
        validate_output(["check", "--format=json", "."], good.replace('"passed": true',
                                                                      '"passed": "yes"'))
    with pytest.raises(ValidationError):
        validate_output(["refs", "--format", "json"], good)  # a check report is not refs'
