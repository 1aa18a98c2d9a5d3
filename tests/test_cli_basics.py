from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import trustbuild
from trustbuild.cli import main


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
