"""Running the installed ``trustbuild`` command, as users run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def entry_point() -> str:
    """The console script installed beside this interpreter (the test venv's)."""
    found = shutil.which("trustbuild", path=str(Path(sys.executable).parent))
    if found is None:
        raise AssertionError("the trustbuild console script is not installed beside "
                             f"{sys.executable}: run the tests with `nox -s tests`")
    return found


def trustbuild(*args: str, env: Mapping[str, str | None] | None = None,
               stdin: str | None = None, cwd: Path | None = None,
               timeout: float = 600) -> Run:
    """Run ``trustbuild ARGS`` through the installed entry point.  *env* is added to this
    process's environment (a None value removes a variable)."""
    full = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    result = subprocess.run([entry_point(), *args], env=full, input=stdin, cwd=cwd,
                            capture_output=True, text=True, timeout=timeout, check=False)
    return Run(result.returncode, result.stdout, result.stderr)
