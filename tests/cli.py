"""Running the installed ``trustbuild`` command, as users run it.

:func:`entry_point` is the console script behind a thin wrapper: a run with
``--format json`` has its standard output checked against the command's JSON Schema
(tests/schemas.py), so every JSON document the suite makes trustbuild print is validated; a
run without it is the console script itself (the wrapper ``exec``s it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_WRAPPER = '''#!{python}
import os, signal, subprocess, sys
sys.path.insert(0, {root!r})
from tests.schemas import json_format, validate_output

REAL = {real!r}
args = sys.argv[1:]
if not json_format(args):
    os.execv(REAL, [REAL, *args])
child = subprocess.Popen([REAL, *args], stdout=subprocess.PIPE)
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda signum, frame: child.send_signal(signum))
out, _ = child.communicate()
sys.stdout.buffer.write(out)
sys.stdout.flush()
try:
    validate_output(args, out.decode("utf-8"))
except Exception as exc:
    sys.stderr.write(f"\\nSCHEMA VIOLATION in trustbuild's JSON output: {{exc}}\\n")
    sys.exit(99)
sys.exit(child.returncode)
'''


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def installed_script() -> str:
    """The console script installed beside this interpreter (the test venv's)."""
    found = shutil.which("trustbuild", path=str(Path(sys.executable).parent))
    if found is None:
        raise AssertionError("the trustbuild console script is not installed beside "
                             f"{sys.executable}: run the tests with `nox -s tests`")
    return found


@cache
def entry_point() -> str:
    """The ``trustbuild`` command the tests run (see the module's docstring)."""
    directory = Path(tempfile.mkdtemp(prefix="trustbuild-tests-bin-"))
    wrapper = directory / "trustbuild"
    wrapper.write_text(_WRAPPER.format(python=sys.executable, root=str(ROOT),
                                       real=installed_script()))
    wrapper.chmod(0o755)
    return str(wrapper)


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
