"""Developer sessions.  ``nox -s tests lint typecheck`` is the one command CI runs (README.md's
second command; ``.ci/run`` calls it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, property, integration and end-to-end tests on the local stack.

    The stack (dockerd, registry, notary-server) needs root: missing Debian packages are
    installed with apt-get on first use."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy>=1.10", "nox>=2024.4")
    session.run("mypy")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job end to end on a self-contained local stack."""
    session.install("-e", ".")
    session.run("python", "demo/run.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against the notary and docker CLIs on the local stack (not part of tests).

    trustbuild is installed as users install it (not editable: an editable install adds an
    import hook to every start-up)."""
    session.install("--force-reinstall", "--no-deps", ".")
    session.install(".")
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The differential suite at length: generated Dockerfiles built by every real builder of
    the local stack, against what trustbuild lists (TRUSTBUILD_DIFF_EXAMPLES, default 2000)."""
    session.install("-e", ".[test]")
    examples = session.env.get("TRUSTBUILD_DIFF_EXAMPLES", "2000")
    session.run("pytest", "tests/test_differential.py", "-q", "--hypothesis-show-statistics",
                *session.posargs, env={"TRUSTBUILD_DIFF_EXAMPLES": examples})


@nox.session(python=PYTHON)
def bench_scan(session: nox.Session) -> None:
    """``trustbuild scan`` of 500 Dockerfiles against ``check`` of one and ``check`` per file,
    and its peak memory, on the local stack (benchmarks/scan.py; not part of tests)."""
    session.install("--force-reinstall", "--no-deps", ".")
    session.install(".")
    session.run("python", "benchmarks/scan.py", *session.posargs)


@nox.session(python=PYTHON)
def dist(session: nox.Session) -> None:
    """The sdist and the wheel in dist/, as `python -m build` makes them (the wheel is built
    from the sdist, so a file the sdist lacks breaks it), checked by `twine check --strict`."""
    session.install("build>=1.2", "twine>=6.1")
    out = Path("dist")
    shutil.rmtree(out, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(out), ".")
    session.run("twine", "check", "--strict", *sorted(str(p) for p in out.iterdir()))


@nox.session(python=PYTHON)
def compare(session: nox.Session) -> None:
    """dockerfile-parse against BuildKit's recorded corpus (benchmarks/
    dockerfile_parse_comparison.py): why it is not in the decision path (docs/design.md)."""
    session.install("-e", ".[compare]")
    session.run("python", "benchmarks/dockerfile_parse_comparison.py")
