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

HOOK_ID = "trustbuild-check"
DOCKERFILE_NAMES = ["Dockerfile", "app/Dockerfile", "Dockerfile.prod", "a/b/Dockerfile.dev",
                    "web.Dockerfile", "ci/build.dockerfile", "Containerfile",
                    "img/Containerfile.arm64"]
OTHER_NAMES = ["README.md", "Dockerfiles/notes.txt", "app/NotADockerfileX", "Dockerfile/",
               "dockerfile", "src/Dockerfile_helpers.py", ".dockerignore", "Containerfiles"]


def hook() -> dict[str, Any]:
    hooks: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return next(h for h in hooks if h["id"] == HOOK_ID)


def test_hook_runs_for_dockerfile_names_only() -> None:
    files = re.compile(hook()["files"])  # pre-commit matches with re.search on the path
    assert [n for n in DOCKERFILE_NAMES if not files.search(n)] == []
    assert [n for n in OTHER_NAMES if files.search(n)] == []


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
