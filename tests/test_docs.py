"""The docs work as written.

* Every shell snippet (```sh, ```console) in README.md and docs/ is run on the local stack, or
  says why not: the comment before it is ``<!-- docs-test: WORLD -->`` (run it in that
  prepared world) or ``<!-- docs-test: skip (reason) -->``.  A ``console`` snippet's commands
  (``$ …``) are run and their output must contain the lines shown, in order (``…`` elides).
* The CI recipes in docs/guide.md (GitHub Actions, GitLab CI) run as written, their hosted
  pieces (checkout, setup-python, the SARIF upload) stood in for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.checkout import ROOT, copy_checkout
from tests.cli import entry_point
from tests.github_action import run_action
from tests.sarifcheck import validate_sarif
from tests.stack.catalog import Catalog
from tests.stack.publisher import Publisher
from tests.stack.services import Stack

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- docs-test: (?P<mark>[^\n]*?) -->\n)?```(?P<lang>[\w-]*)\n"
                   r"(?P<body>.*?)```", re.DOTALL)
SHELLS = ("sh", "console")
GUIDE = ROOT / "docs" / "guide.md"


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    lang: str
    mark: str | None
    body: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets() -> list[Snippet]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("lang")) + 1
            found.append(Snippet(path, line, match.group("lang"), match.group("mark"),
                                 match.group("body")))
    return found


SHELL_SNIPPETS = [s for s in snippets() if s.lang in SHELLS]


def test_every_shell_snippet_is_run_or_says_why_not() -> None:
    for snippet in SHELL_SNIPPETS:
        assert snippet.mark is not None, \
            f"{snippet.id}: mark it <!-- docs-test: WORLD --> or <!-- docs-test: skip (why) -->"
        if snippet.mark.startswith("skip"):
            assert re.fullmatch(r"skip \(.{10,}\)", snippet.mark), \
                f"{snippet.id}: a skipped snippet says why"
        else:
            assert snippet.mark in WORLDS, f"{snippet.id}: no world {snippet.mark!r}"


# -- the worlds snippets run in ---------------------------------------------------------------

@dataclass
class World:
    cwd: Path
    env: dict[str, str]


def _path_with_trustbuild(env: dict[str, str]) -> str:
    """PATH with the tested ``trustbuild`` first (the validating wrapper of tests/cli.py)."""
    return os.pathsep.join([str(Path(entry_point()).parent), env.get("PATH", os.defpath)])


def drop_in(stack: Stack, publisher: Publisher, catalog: Catalog, tmp: Path) -> World:
    """A project whose images are signed on the local stack: `Dockerfile`, and
    `build/Dockerfile` with an ARG-chosen base and a `prod` stage."""
    for tag in ("1", "2"):
        base = publisher.sign_delegation("tb/docsbase", tag)
    project = tmp / "project"
    (project / "build").mkdir(parents=True)
    (project / "Dockerfile").write_text(f"FROM {catalog.releases.ref}\nRUN true\n")
    (project / "build" / "Dockerfile").write_text(
        f"ARG BASE_TAG=1\nFROM {base.repo}:${{BASE_TAG}} AS prod\nRUN true\n"
        f"FROM {catalog.unsigned_tag.ref} AS never-built\n")
    env = stack.env(stack.docker_config(tmp / "docker-config"))
    env["PATH"] = _path_with_trustbuild(env)
    return World(project, env)


def install(stack: Stack, publisher: Publisher, catalog: Catalog, tmp: Path) -> World:
    """A checkout of the repository (the snippet installs trustbuild from it)."""
    checkout = copy_checkout(tmp / "trustbuild")
    return World(checkout, {**os.environ})


def console(stack: Stack, publisher: Publisher, catalog: Catalog, tmp: Path) -> World:
    """An empty directory; the `file NAME` snippets before the console go into it."""
    directory = tmp / "console"
    directory.mkdir()
    env = {**os.environ, "TRUSTBUILD_DOCKER": "/nonexistent/docker"}
    env["PATH"] = _path_with_trustbuild(env)
    return World(directory, env)


WORLDS: dict[str, Callable[[Stack, Publisher, Catalog, Path], World]] = {
    "drop-in": drop_in, "install": install, "console": console}


def _files_before(snippet: Snippet) -> dict[str, str]:
    """The ``<!-- docs-test: file NAME -->`` blocks of the same page before *snippet*."""
    files = {}
    for other in snippets():
        if other.path == snippet.path and other.line < snippet.line and other.mark \
                and other.mark.startswith("file "):
            files[other.mark.removeprefix("file ")] = other.body
    return files


def _check_console(snippet: Snippet, world: World) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in snippet.body.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
    assert commands, f"{snippet.id}: a console snippet shows commands ($ …)"
    for command, expected in commands:
        done = subprocess.run(["bash", "-c", command], cwd=world.cwd, env=world.env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{snippet.id}: {command}\n{done.stderr}"
        shown = [line for line in expected if line.strip() not in ("…", "...")]
        position = 0
        actual = done.stdout.splitlines()
        for want in shown:
            assert want in actual[position:], \
                f"{snippet.id}: {command}: {want!r} not in the output:\n{done.stdout}"
            position = actual.index(want, position) + 1


RUNNABLE = [s for s in SHELL_SNIPPETS if s.mark and not s.mark.startswith("skip")]


@pytest.mark.stack
@pytest.mark.parametrize("snippet", RUNNABLE, ids=[s.id for s in RUNNABLE])
def test_snippet_runs_as_written(snippet: Snippet, stack: Stack, publisher: Publisher,
                                 catalog: Catalog, tmp_path: Path) -> None:
    assert snippet.mark is not None
    world = WORLDS[snippet.mark](stack, publisher, catalog, tmp_path)
    for name, body in _files_before(snippet).items():
        (world.cwd / name).write_text(body)
    if snippet.lang == "console":
        _check_console(snippet, world)
        return
    done = subprocess.run(["bash", "-e", "-c", snippet.body], cwd=world.cwd, env=world.env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{snippet.id}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


# -- the CI recipes in docs/guide.md ---------------------------------------------------------

def _yaml_under(heading: str, nth: int = 0) -> dict[str, Any]:
    section = GUIDE.read_text().split(heading, 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    document: dict[str, Any] = yaml.safe_load(blocks[nth])
    return document


def _expression(value: str, known: dict[str, str]) -> str:
    """``${{ NAME }}`` for the names a recipe uses; any other expression fails the test."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in known, f"a recipe uses ${{{{ {name} }}}}, which this test does not know"
        return known[name]

    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("docs-ci") / "trustbuild")


@pytest.fixture(scope="module")
def python_env(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv whose ``python`` a recipe's `python -m pip install` goes into (what
    actions/setup-python and the `python:3.12` image give a job)."""
    venv = tmp_path_factory.mktemp("job-python") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv / "bin"


def _signed_project(tmp: Path, catalog: Catalog) -> Path:
    project = tmp / "repo"
    (project / "services" / "api").mkdir(parents=True)
    (project / "services" / "api" / "Dockerfile").write_text(
        f"ARG VERSION=1\nFROM {catalog.releases.ref}\nRUN true\n")
    return project


@pytest.mark.stack
def test_the_github_check_workflow_runs_as_written(stack: Stack, catalog: Catalog,
                                                   checkout: Path, tmp_path: Path) -> None:
    workflow = _yaml_under("### GitHub Actions")
    steps = workflow["jobs"]["trust-gate"]["steps"]
    [action_step] = [s for s in steps if "trustbuild@" in s.get("uses", "")]
    known = {"github.sha": "0123456789abcdef", "secrets.NOTARY_CA": stack.notary_ca.read_text()}
    inputs = {k: _expression(str(v), known) for k, v in action_step["with"].items()}
    inputs["trust-server"] = stack.notary_url  # the recipe's server is an example's
    workspace = _signed_project(tmp_path, catalog) / "services" / "api"
    env = {k: v for k, v in stack.env(tmp_path / "docker").items()
           if k != "DOCKER_CONTENT_TRUST_SERVER"}
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    result = run_action(checkout, inputs, env=env, workspace=workspace,
                        runner_temp=runner_temp)
    assert result.code == 0, result.log
    report = json.loads((workspace / inputs["output-file"]).read_text())
    assert [i["status"] for i in report["images"]] == ["trusted"]


def _run_script(lines: list[str], *, shell: list[str], cwd: Path,
                env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*shell, "\n".join(lines)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def _scan_env(stack: Stack, tmp: Path, python: Path, checkout: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in stack.env(home / ".docker").items() if k != "DOCKER_CONFIG"}
    env.update(HOME=str(home), TRUSTBUILD_PACKAGE=str(checkout),
               PATH=os.pathsep.join([str(python), env.get("PATH", os.defpath)]))
    return env


@pytest.mark.stack
def test_the_github_scan_workflow_runs_as_written(stack: Stack, catalog: Catalog,
                                                  checkout: Path, python_env: Path,
                                                  tmp_path: Path) -> None:
    workflow = _yaml_under("## Every Dockerfile at once: `trustbuild scan`")
    steps = workflow["jobs"]["trust-scan"]["steps"]
    project = _signed_project(tmp_path, catalog)
    env = _scan_env(stack, tmp_path, python_env, checkout)
    known = {"vars.TRUSTBUILD_PACKAGE": str(checkout),
             "secrets.NOTARY_CA": stack.notary_ca.read_text()}
    hosted = {"actions/checkout", "actions/setup-python", "github/codeql-action/upload-sarif"}
    sarif_file = None
    for step in steps:
        if "uses" in step:
            assert step["uses"].split("@")[0] in hosted, step["uses"]
            sarif_file = step.get("with", {}).get("sarif_file", sarif_file)
            continue
        step_env = {**env, **{k: _expression(str(v), known)
                              for k, v in step.get("env", {}).items()}}
        step_env["DOCKER_CONTENT_TRUST_SERVER"] = stack.notary_url
        done = _run_script([_expression(step["run"], known)],
                           shell=["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
                           cwd=project, env=step_env)
        assert done.returncode == 0, done.stdout + done.stderr
    assert sarif_file is not None
    validate_sarif(json.loads((project / sarif_file).read_text()))


@pytest.mark.stack
@pytest.mark.parametrize(("image", "code"), [("releases", 0), ("unsigned_tag", 4)])
def test_the_gitlab_scan_job_runs_as_written(image: str, code: int, stack: Stack,
                                             catalog: Catalog, checkout: Path,
                                             python_env: Path, tmp_path: Path) -> None:
    job = _yaml_under("## Every Dockerfile at once: `trustbuild scan`", 1)["trust-scan"]
    project = tmp_path / "repo"
    project.mkdir()
    (project / "Dockerfile").write_text(f"FROM {getattr(catalog, image).ref}\nRUN true\n")
    env = _scan_env(stack, tmp_path, python_env, checkout)
    env.update({k: str(v) for k, v in job["variables"].items()})
    env.update(DOCKER_CONTENT_TRUST_SERVER=stack.notary_url, NOTARY_CA=str(stack.notary_ca))
    done = _run_script(job["script"], shell=["sh", "-e", "-c"], cwd=project, env=env)
    assert done.returncode == code, done.stdout + done.stderr
    for artifact in job["artifacts"]["paths"]:
        assert (project / artifact).is_file(), artifact
    validate_sarif(json.loads((project / "trustbuild.sarif").read_text()))
    quality = json.loads((project / job["artifacts"]["reports"]["codequality"]).read_text())
    assert isinstance(quality, list) and (len(quality) > 0) == (code != 0)
