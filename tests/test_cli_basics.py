"""The one entry point: version, help, the command table, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trustbuild
from tests.cli import trustbuild as run
from trustbuild._internal.cli import COMMANDS
from trustbuild._internal.plan import Status, exit_code_for
from trustbuild.errors import ExitCode


def test_version() -> None:
    result = run("--version")
    assert result.code == 0
    assert trustbuild.__version__ in result.out


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = run("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert name in result.out
    assert "4  refused" in result.out


def test_help_command() -> None:
    assert "Usage: trustbuild check" in run("help", "check").out
    assert "refs" in run("help").out
    missing = run("help", "nope")
    assert missing.code == 2 and "no such command" in missing.err


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "trustbuild", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert trustbuild.__version__ in out


def test_docker_style_help_lists_trustbuild_options() -> None:
    for name in ("build", "check", "pin", "refs"):
        result = run(name, "--help")
        assert result.code == 0, result.err
        assert f"Usage: trustbuild {name}" in result.out or "Usage: trustbuild [build]" in \
            result.out
        assert "--verbose" in result.out and "Exit codes" in result.out


def test_an_unknown_status_fails_the_gate() -> None:
    assert exit_code_for([Status.TRUSTED, Status.ALLOWED]) is ExitCode.OK
    assert exit_code_for([Status.TRUSTED, Status.REFUSED]) is ExitCode.UNTRUSTED
    assert exit_code_for([Status.REFUSED, Status.ERROR]) is ExitCode.TRUST_ERROR
    # A status the gate was never taught (a new enum member, a misspelt string): a failure.
    assert exit_code_for([Status.TRUSTED, "trusted-ish"]) is ExitCode.TRUST_ERROR
    assert exit_code_for([object()]) is ExitCode.TRUST_ERROR
    assert exit_code_for([]) is ExitCode.OK


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run("check", "--frobnicate", str(tmp_path))
    assert result.code == 2
    assert result.err.strip() == "trustbuild: error: unknown flag: --frobnicate"
    assert result.out == ""


def test_json_errors_are_a_json_document_on_stdout(tmp_path: Path) -> None:
    missing = run("check", "--format", "json", str(tmp_path))
    assert missing.code == 2
    doc = json.loads(missing.out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert "cannot read Dockerfile" in missing.err
    (tmp_path / "Dockerfile").write_text("FROM alpine\nCOPY --from=$X / /\n")
    bad = run("check", "--format=json", str(tmp_path))
    assert bad.code == 3
    doc = json.loads(bad.out)
    assert doc["error"]["reason"] == "dockerfile" and doc["error"]["line"] == 2
    flag = run("check", "--format", "json", "--nope", str(tmp_path))
    assert flag.code == 2 and json.loads(flag.out)["error"]["exit_code"] == 2
