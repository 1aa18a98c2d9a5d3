"""The CI gate's surfaces hold their contract on awkward trees and input (scan's file
finding, JSON/SARIF/Code Quality output, the lock parser, the library's errors): each test
is a case a review found where the gate passed, or broke its contract, before.

No network: images resolve against https://127.0.0.1:1 (connection refused, exit 5), and a
Dockerfile that must pass is `FROM scratch` (pulls nothing)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import trustbuild
from tests.cli import installed_script
from trustbuild.errors import TrustbuildError

GOOD = "FROM scratch\n"
BAD = "FROM reg.invalid/unsigned:1\n"  # cannot be verified: exit 5


def run(args: list[str], cwd: Path, *, prefix: list[str] | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    home = cwd.parent / f"{cwd.name}-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "DOCKER_CONFIG": str(home / "docker"),
           "XDG_CONFIG_HOME": str(home / "xdg"),
           "DOCKER_CONTENT_TRUST_SERVER": "https://127.0.0.1:1",
           "TRUSTBUILD_DOCKER": "/nonexistent/docker",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@b"}
    env.pop("DOCKER_BUILDKIT", None)
    return subprocess.run([*(prefix or []), installed_script(), *args], cwd=cwd, env=env,
                          capture_output=True, timeout=120, check=False)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True,
                   capture_output=True, env={**os.environ, "GIT_AUTHOR_NAME": "a",
                                             "GIT_AUTHOR_EMAIL": "a@b",
                                             "GIT_COMMITTER_NAME": "a",
                                             "GIT_COMMITTER_EMAIL": "a@b"})


# -- which files a scan finds ----------------------------------------------------------------

def test_without_git_a_gitignore_hides_no_failing_dockerfile(tmp_path: Path) -> None:
    """CI without .git (tarball checkout, GIT_STRATEGY: none, artifacts): the tree's own
    .gitignore, which the change controls, hides evil.Dockerfile and the gate passes.
    scan.py's _Tracked says 'when git cannot tell, .gitignore hides nothing'."""
    root = write(tmp_path / "t", {"Dockerfile": GOOD, "evil.Dockerfile": BAD})
    assert run(["scan"], root).returncode == 5
    (root / ".gitignore").write_text("evil.Dockerfile\n")
    result = run(["scan"], root)
    assert result.returncode != 0, result.stdout.decode()


def test_a_submodules_tracked_dockerfile_is_scanned_whatever_gitignore_says(tmp_path: Path) -> None:
    sub = write(tmp_path / "sub", {"app.Dockerfile": BAD, ".gitignore": "app.Dockerfile\n"})
    git(sub, "init", "-q")
    git(sub, "add", "-f", "app.Dockerfile", ".gitignore")
    git(sub, "commit", "-qm", "x")
    top = write(tmp_path / "top", {"Dockerfile": GOOD})
    git(top, "init", "-q")
    git(top, "add", "Dockerfile")
    git(top, "submodule", "add", "-q", str(sub), "vendor/sub")
    git(top, "commit", "-qm", "x")
    assert (top / "vendor/sub/app.Dockerfile").is_file()
    assert run(["scan"], top / "vendor" / "sub").returncode == 5  # scanned from inside: found
    result = run(["scan"], top)
    assert result.returncode != 0, result.stdout.decode()


# -- unreadable directories --------------------------------------------------------------

def _no_dac() -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop CAP_DAC_*")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_a_directory_that_cannot_be_listed_stops_the_scan(tmp_path: Path) -> None:
    root = write(tmp_path / "t", {"ok/Dockerfile": GOOD, "locked/Dockerfile": BAD})
    (root / "locked").chmod(0o111)  # searchable, not listable
    try:
        result = run(["scan"], root, prefix=_no_dac())
    finally:
        (root / "locked").chmod(0o755)
    assert b"cannot list" in result.stderr
    assert result.returncode == 2, result.stdout.decode()


def test_an_unreadable_directory_is_a_clear_error(tmp_path: Path) -> None:
    root = write(tmp_path / "t", {"ok/Dockerfile": GOOD, "locked/Dockerfile": BAD})
    (root / "locked").chmod(0o000)
    try:
        result = run(["scan", "--format", "json"], root, prefix=_no_dac())
    finally:
        (root / "locked").chmod(0o755)
    assert result.returncode == 2, result.stderr.decode()
    assert json.loads(result.stdout)["error"]["exit_code"] == 2


# -- bad patterns (the user's --exclude, or a committed .gitignore) ------------------------

@pytest.mark.parametrize("pattern", ["!", "[z-a]"])
def test_a_bad_exclude_pattern_is_a_usage_error(tmp_path: Path, pattern: str) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD})
    result = run(["scan", "--exclude", pattern], root)
    assert result.returncode == 2, result.stderr.decode()


@pytest.mark.parametrize("pattern", ["!", "[z-a]"])
def test_an_invalid_gitignore_line_is_skipped_as_git_skips_it(tmp_path: Path,
                                                                pattern: str) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD, "sub/Dockerfile": GOOD,
                                  "sub/.gitignore": pattern + "\n"})
    result = run(["scan"], root)
    assert result.returncode == 0, result.stderr.decode()


def test_the_library_raises_trustbuild_errors_for_bad_patterns(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD})
    monkeypatch.chdir(root)
    try:
        trustbuild.scan(["."], exclude=["!"], builder_rules="buildkit",
                        env={"DOCKER_CONFIG": str(tmp_path / "d"), "HOME": str(tmp_path)})
    except TrustbuildError:
        pass
    except Exception as exc:
        pytest.fail(f"not a trustbuild.errors exception: {type(exc).__name__}: {exc}")


# -- the hook and a tree scan take the same names ------------------------------------------

def test_the_hook_never_passes_ignore_files_to_scan() -> None:
    from tests.test_precommit_hook import hook_takes

    assert not hook_takes("Dockerfile.dockerignore")
    assert not hook_takes("app/Containerfile.containerignore")


def test_a_tree_scan_finds_every_name_the_hook_checks(tmp_path: Path) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD, "Containerfile.prod": BAD,
                                  "app.dockerfile": BAD, "sub/dockerfile": BAD})
    result = run(["scan", "--format", "json"], root)
    assert result.returncode == 5, result.stdout.decode()
    assert sorted(f["dockerfile"] for f in json.loads(result.stdout)["files"]) == [
        "Containerfile.prod", "Dockerfile", "app.dockerfile", "sub/dockerfile"]


# -- non-UTF-8 file names ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["sarif", "codequality"])
def test_a_non_utf8_name_in_sarif_and_codequality(tmp_path: Path, fmt: str) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD})
    (root / os.fsdecode(b"Dockerfile.\xff")).write_text(BAD)
    result = run(["scan", "--format", fmt], root)
    assert result.returncode == 5, result.stderr.decode()
    json.loads(result.stdout)


def test_a_non_utf8_name_in_json_is_still_utf8(tmp_path: Path) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD})
    (root / os.fsdecode(b"Dockerfile.\xff")).write_text(BAD)
    result = run(["scan", "--format", "json"], root)
    assert result.returncode == 5
    result.stdout.decode("utf-8")


# -- --format json: stdout holds one JSON document whatever happens ------------------

@pytest.mark.parametrize("args", [["scan", "--format", "json", "--bogus"],
                                  ["inspect", "--format", "json"],
                                  ["policy", "show", "--format", "json"]])
def test_command_line_errors_print_the_error_document(tmp_path: Path, args: list[str]) -> None:
    root = write(tmp_path / "t", {"Dockerfile": GOOD})
    result = run(args, root)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["error"]["exit_code"] == 2


# -- SARIF / Code Quality: one fingerprint per finding ------------------------------------------

def test_the_same_image_twice_is_two_findings(tmp_path: Path) -> None:
    root = write(tmp_path / "t", {"Dockerfile": "FROM scratch\n"
                                  "COPY --from=reg.invalid/x:1 / /a\n"
                                  "COPY --from=reg.invalid/x:1 / /b\n"})
    quality = json.loads(run(["scan", "--format", "codequality"], root).stdout)
    assert len(quality) == 2
    assert len({q["fingerprint"] for q in quality}) == 2


# -- scan's ok and passed mean what check's do --------------------------

def test_warn_mode_scan_is_passed_but_not_ok(tmp_path: Path) -> None:
    root = write(tmp_path / "t", {"Dockerfile": BAD, "user.toml": '[trust]\nmode = "warn"\n'})
    check = json.loads(run(["check", "--format", "json", "--config", "user.toml", "."],
                           root).stdout)
    scan = json.loads(run(["scan", "--format", "json", "--config", "user.toml"], root).stdout)
    assert check["ok"] is False and check["passed"] is True
    assert scan["files"][0]["ok"] == check["ok"]
    assert scan["files"][0]["passed"] == check["passed"]
    assert (scan["ok"], scan["passed"], scan["exit_code"]) == (False, True, 0)


# -- the lock parser refuses what a reviewer could misread -------------------------------

def _lock_text(**top: object) -> str:
    entry = {"reference": "reg.example/base:1", "digest": "sha256:" + "a" * 64, "size": 1,
             "role": "targets", "key_ids": [], "server": "s", "metadata_version": 1,
             "metadata_expires": None,
             "pulls": [{"dockerfile": "Dockerfile", "line": 1, "instruction": "FROM",
                        "written": "x", "stage": None}]}
    return json.dumps({"schema_version": 1, "dockerfile": "Dockerfile", "images": [entry],
                       **top})


def test_a_lock_schema_version_must_be_the_integer() -> None:
    from trustbuild._internal.lockfile import parse
    from trustbuild.errors import LockfileError

    with pytest.raises(LockfileError):
        parse(_lock_text(schema_version=True).encode(), "lock")


def test_a_lock_with_a_key_twice_is_refused() -> None:
    """A reviewer reading the diff sees the first digest; trustbuild uses the second."""
    from trustbuild._internal.lockfile import parse
    from trustbuild.errors import LockfileError

    first = '"digest": "sha256:' + "a" * 64 + '"'
    text = _lock_text().replace(first, first + ', "digest": "sha256:' + "b" * 64 + '"')
    with pytest.raises(LockfileError):
        parse(text.encode(), "lock")
