"""Developer sessions.  ``nox -s tests`` is the one command CI runs (see README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"
# What the distribution tests drive besides trustbuild: the PyPA build front end and twine
# (the wheel and sdist), pre-commit (the hook), and a YAML reader (action.yml, the hooks file,
# the CI recipes in docs/guide.md).
DIST_TEST_TOOLS = ("build>=1.2", "twine>=6.1", "pre-commit>=3.5", "PyYAML>=6")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, property, integration and end-to-end tests on the local stack.

    The stack (dockerd, registry, notary-server) needs root: missing Debian packages are
    installed with apt-get on first use."""
    session.install("-e", ".[test]", *DIST_TEST_TOOLS)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", *DIST_TEST_TOOLS, "types-PyYAML", "mypy>=1.10",
                    "nox>=2024.4")
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
def dist(session: nox.Session) -> None:
    """The sdist and the wheel in dist/, as `python -m build` makes them (the wheel is built
    from the sdist, so a file the sdist lacks breaks it), checked by `twine check --strict`."""
    session.install("build>=1.2", "twine>=6.1")
    out = Path("dist")
    shutil.rmtree(out, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(out), ".")
    session.run("twine", "check", "--strict", *sorted(str(p) for p in out.iterdir()))
