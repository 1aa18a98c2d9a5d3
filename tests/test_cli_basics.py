from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

import trustbuild
from trustbuild._internal.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert trustbuild.__version__ in result.output


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "refs" in result.output


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "trustbuild", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert trustbuild.__version__ in out


@pytest.mark.parametrize(("code", "status", "err"), [(None, 0, ""), (3, 3, ""),
                                                     ("a message", 1, "a message\n")])
def test_fast_exit_keeps_exit_codes_and_flushes_output(code: object, status: int,
                                                       err: str) -> None:
    """The docker-style commands end with os._exit: nothing written may be lost."""
    script = ("import sys\nfrom trustbuild._internal.commands import exit_now\n"
              f"sys.stdout.write('x' * 200000)\nexit_now({code!r})\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, len(result.stdout), result.stderr) == (status, 200000, err)
