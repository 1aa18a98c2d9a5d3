"""The pre-commit hook (.pre-commit-hooks.yaml), run by pre-commit itself: `pre-commit
try-repo` installs it from a repository holding this tree the way a consumer's `repo:`/`rev:`
entry does, and runs it in a repository whose Dockerfile builds on a signed, then an unsigned,
image."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.checkout import GIT_ENV, ROOT, copy_checkout, git_repository
from tests.stack.catalog import Catalog
from tests.stack.services import Stack
from trustbuild._internal.scan import is_dockerfile

HOOK_ID = "trustbuild-check"
DOCKERFILE_NAMES = ["Dockerfile", "app/Dockerfile", "Dockerfile.prod", "a/b/Dockerfile.dev",
                    "web.Dockerfile", "ci/build.dockerfile", "Containerfile",
                    "img/Containerfile.arm64", "dockerfile", "Containerfile.prod",
                    "app.containerfile", "x/DOCKERFILE"]
OTHER_NAMES = ["README.md", "Dockerfiles/notes.txt", "app/NotADockerfileX", "Dockerfile/",
               "src/Dockerfile_helpers.py", ".dockerignore", "Containerfiles",
               "Dockerfile.dockerignore", "app/Containerfile.containerignore",
               "web.Dockerfile.dockerignore", ".Dockerfile", "Dockerfile."]


def hook() -> dict[str, Any]:
    hooks: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return next(h for h in hooks if h["id"] == HOOK_ID)


def hook_takes(path: str) -> bool:
    """pre-commit's choice: ``files`` and not ``exclude``, each with re.search on the path."""
    spec = hook()
    return bool(re.search(spec["files"], path)) and not re.search(spec.get("exclude", "^$"),
                                                                 path)


def test_hook_runs_for_dockerfile_names_only() -> None:
    assert [n for n in DOCKERFILE_NAMES if not hook_takes(n)] == []
    assert [n for n in OTHER_NAMES if hook_takes(n)] == []


@pytest.mark.parametrize("path", DOCKERFILE_NAMES + OTHER_NAMES)
def test_hook_and_a_tree_scan_take_the_same_names(path: str) -> None:
    # A file the hook checks on commit but a tree scan skips (or the reverse) is a gap
    # one of the two gates leaves open.
    name = path.rstrip("/").rpartition("/")[2]
    expected = is_dockerfile(name) and not path.endswith("/")
    assert hook_takes(path) == expected


def test_hook_is_a_python_hook_on_the_console_script() -> None:
    spec = hook()
    assert spec["language"] == "python"
    assert spec["entry"].split()[0] == "trustbuild"
    assert spec["entry"] == "trustbuild scan"  # the touched Dockerfiles, passed as files
    assert spec.get("pass_filenames", True) is True and spec["require_serial"] is True


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This tree (committed or not) as the repository a consumer's `repo:` names."""
    return git_repository(copy_checkout(tmp_path_factory.mktemp("hooks") / "trustbuild"))


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pre-commit's cache of hook environments."""
    return tmp_path_factory.mktemp("pre-commit-home")


def try_repo(hooks: Path, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit, "pre-commit is not installed beside the test interpreter (nox -s tests)"
    return subprocess.run([pre_commit, "try-repo", str(hooks), HOOK_ID, "--all-files",
                           "--verbose"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def consumer_repo(path: Path, dockerfile: str) -> Path:
    path.mkdir()
    (path / "Dockerfile").write_text(dockerfile)
    (path / "README.md").write_text("not a Dockerfile\n")
    return git_repository(path)


@pytest.mark.stack
@pytest.mark.parametrize(("image", "code"), [("releases", 0), ("unsigned_tag", 1)])
def test_pre_commit_runs_the_hook_on_the_real_stack(image: str, code: int, stack: Stack,
                                                    catalog: Catalog, hooks_repo: Path,
                                                    pre_commit_home: Path,
                                                    tmp_path: Path) -> None:
    ref = getattr(catalog, image).ref
    repo = consumer_repo(tmp_path / "consumer", f"FROM {ref}\nRUN true\n")
    env = {**stack.env(stack.docker_config(tmp_path / "docker-config")),
           "PRE_COMMIT_HOME": str(pre_commit_home), "DOCKER_BUILDKIT": "1", **GIT_ENV}
    result = try_repo(hooks_repo, repo, env)
    output = result.stdout + result.stderr
    assert result.returncode == code, output  # pre-commit exits 1 for any failing hook
    if code == 0:
        assert f"{ref} -> {catalog.releases.digest}" in output
        assert re.search(r"trustbuild scan \(base images are signed\)\.+Passed", output)
    else:
        assert "hook id: trustbuild-check" in output and "exit code: 4" in output
        assert f"No trust data for {catalog.unsigned_tag.tag}" in output
