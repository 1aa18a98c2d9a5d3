"""`trustbuild scan`: finding Dockerfiles as git sees the tree, and checking them all in one
run against the simulated trust server (the real stack: test_lock_stack.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import Run, trustbuild
from tests.conftest import ExampleRegistry
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from tests.registrysim import image
from tests.sarifcheck import validate_sarif
from tests.schemas import validate_scan
from trustbuild._internal.scan import find_dockerfiles, is_dockerfile
from trustbuild.errors import UsageError

DIGEST = image(None, "base").digest.removeprefix("sha256:")
OTHER = image(None, "other").digest.removeprefix("sha256:")


@pytest.mark.parametrize(("name", "found"), [
    ("Dockerfile", True), ("Containerfile", True), ("app.Dockerfile", True),
    ("Dockerfile.prod", True), ("Dockerfile.dockerignore", False),
    ("app.Dockerfile.dockerignore", False), ("dockerfile", True), ("Dockerfile.", False),
    (".Dockerfile", False), ("Dockerfiles", False), ("README.md", False)])
def test_dockerfile_names(name: str, found: bool) -> None:
    assert is_dockerfile(name) is found


def tree(root: Path, files: dict[str, str]) -> Path:
    """*files* under *root*; a ``.git/…`` entry makes *root* a real git repository first
    (nothing committed: what is untracked is what `.gitignore` can hide)."""
    if any(name.startswith(".git/") for name in files):
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True, capture_output=True)
    for name, text in files.items():
        if name == ".git/HEAD":
            continue  # git init wrote it
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def found(root: Path, *paths: str, exclude: tuple[str, ...] = ()) -> list[str]:
    return [p.relative_to(root).as_posix() if p.is_absolute() else p.as_posix()
            for p in find_dockerfiles([str(root / p) for p in paths] or [str(root)], exclude)]


def names(root: Path, *paths: str, exclude: tuple[str, ...] = ()) -> list[str]:
    return [Path(p).relative_to(root).as_posix()
            for p in (str(x) for x in find_dockerfiles(
                [str(root / p) for p in paths] or [str(root)], exclude))]


def test_gitignore_semantics(tmp_path: Path) -> None:
    root = tree(tmp_path / "repo", {
        ".git/HEAD": "ref: refs/heads/main\n",
        ".git/Dockerfile": "FROM x\n",  # inside .git: never
        ".git/info/exclude": "scratch/\n",
        ".gitignore": "build/\n/top.Dockerfile\n*.tmp.Dockerfile\n!keep.tmp.Dockerfile\n",
        "Dockerfile": "", "top.Dockerfile": "", "sub/top.Dockerfile": "",
        "a.tmp.Dockerfile": "", "keep.tmp.Dockerfile": "",
        "build/Dockerfile": "", "build/x/Dockerfile": "",
        "sub/build": "",  # a file named build: `build/` matches directories only
        "scratch/Dockerfile": "",
        "svc/.gitignore": "Dockerfile.*\n!Dockerfile.prod\n",
        "svc/Dockerfile": "", "svc/Dockerfile.dev": "", "svc/Dockerfile.prod": "",
        "svc/deep/Dockerfile.dev": "",
        "svc/deep/.gitignore": "!Dockerfile.dev\n",  # a deeper file wins
        "gone/.gitignore": "*\n", "gone/Dockerfile": "",
        "parent/.gitignore": "*\n!Dockerfile\n", "parent/Dockerfile": "",
        "parent/x/Dockerfile": "",  # parent/x/ is ignored: nothing below can come back
    })
    assert names(root) == [
        "Dockerfile", "keep.tmp.Dockerfile", "parent/Dockerfile", "sub/top.Dockerfile",
        "svc/Dockerfile", "svc/Dockerfile.prod", "svc/deep/Dockerfile.dev"]
    # scanning a subdirectory still applies the repository's .gitignore files above it
    assert names(root, "svc") == ["svc/Dockerfile", "svc/Dockerfile.prod",
                                  "svc/deep/Dockerfile.dev"]
    assert names(root, "build/x") == []
    # --exclude: gitignore syntax relative to the path scanned, and it always wins
    assert names(root, exclude=("svc/", "keep.*")) == [
        "Dockerfile", "parent/Dockerfile", "sub/top.Dockerfile"]
    assert names(root, exclude=("**/Dockerfile.prod",)) == [
        "Dockerfile", "keep.tmp.Dockerfile", "parent/Dockerfile", "sub/top.Dockerfile",
        "svc/Dockerfile", "svc/deep/Dockerfile.dev"]
    # a file named on the command line is scanned whatever its name
    assert names(root, "build/Dockerfile", "Dockerfile") == ["Dockerfile", "build/Dockerfile"]


def test_outside_a_repository_gitignore_hides_nothing(tmp_path: Path) -> None:
    # Without git nothing tells the change's own .gitignore from the project's: a tarball
    # checkout whose .gitignore names a failing Dockerfile must still scan it.
    root = tree(tmp_path / "plain", {".gitignore": "vendor/\nevil.Dockerfile\n",
                                     "vendor/Dockerfile": "", "evil.Dockerfile": "",
                                     "Containerfile": ""})
    assert names(root) == ["Containerfile", "evil.Dockerfile", "vendor/Dockerfile"]
    assert names(root, exclude=("vendor/",)) == ["Containerfile", "evil.Dockerfile"]
    with pytest.raises(UsageError, match="no such file"):
        find_dockerfiles([str(root / "missing")])


def test_symlinked_directories_are_not_followed(tmp_path: Path) -> None:
    root = tree(tmp_path / "links", {"a/Dockerfile": ""})
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    assert names(root) == ["a/Dockerfile"]


# -- scanning against the simulator ---------------------------------------------------------

@pytest.fixture()
def env(sim: SimServer, config: Path, example_registry: ExampleRegistry
        ) -> dict[str, str | None]:
    # the registry holds the signed images: base images' ONBUILD triggers are read there
    assert (example_registry.push("base", "base"), example_registry.push("base", "other")) \
        == (DIGEST, OTHER)
    # an image the policy lets through unverified: its triggers are read at its tag
    example_registry.sim.push("vendor", image(None, "vendor"), "1")
    base = sim.add(SimRepo("reg.example/base"))
    base.sign_tag("1", DIGEST)
    base.sign_tag("2", OTHER)
    base.delegate("targets/qa")
    base.sign_tag("qa", OTHER, role="targets/qa")
    base.publish()
    # The user trusts the repository's project policies (allowed/.trustbuild.toml's
    # exception); without that opt-in a project file may only tighten (test_policy_project).
    xdg = config.parent / "xdg"
    (xdg / "trustbuild").mkdir(parents=True)
    (xdg / "trustbuild" / "config.toml").write_text("[trust]\nproject_policy = 'trusted'\n")
    return {"DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
            "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None,
            "XDG_CONFIG_HOME": str(xdg), **example_registry.env}


MIXED = {
    "good/Dockerfile": "ARG V=1\nFROM reg.example/base:${V} AS b\nFROM reg.example/base:2\n"
                       "COPY --from=b / /\n",
    "good/Containerfile": "FROM reg.example/base:1\n",
    "unsigned/app.Dockerfile": "FROM reg.example/base:1\n"
                               "COPY --from=reg.example/base:missing / /\n",
    "other/Dockerfile.qa": "FROM reg.example/base:qa\n",
    "broken/Dockerfile": "FROM reg.example/base:1\nRUN true\nFROM $NOPE\n",
    "allowed/Dockerfile": "FROM reg.example/vendor:1\n",
    "allowed/.trustbuild.toml": '[[exception]]\nmatch = "reg.example/vendor:*"\n'
                                'reason = "vendor image, scanned elsewhere"\n',
    "ignored/Dockerfile": "FROM reg.example/nothing:1\n",
    ".gitignore": "ignored/\n",
    ".git/HEAD": "",  # a git repository (nothing tracked), where .gitignore applies
}


def scan(*args: str, env: dict[str, str | None], cwd: Path) -> Run:
    result = trustbuild("scan", *args, env=env, cwd=cwd)
    assert "Traceback" not in result.err, result.err
    return result


def test_scan_mixed_tree(sim: SimServer, env: dict[str, str | None], tmp_path: Path) -> None:
    root = tree(tmp_path / "repo", MIXED)
    result = scan("--format", "json", env=env, cwd=root)
    report = json.loads(result.out)
    validate_scan(report)
    statuses = {f["dockerfile"]: (f["exit_code"], [(i["reference"], i["status"])
                                                   for i in f["images"]])
                for f in report["files"]}
    assert statuses == {
        "allowed/Dockerfile": (0, [("reg.example/vendor:1", "allowed")]),
        "broken/Dockerfile": (3, []),
        "good/Containerfile": (0, [("reg.example/base:1", "trusted")]),
        "good/Dockerfile": (0, [("reg.example/base:1", "trusted"),
                                ("reg.example/base:2", "trusted")]),
        "other/Dockerfile.qa": (4, [("reg.example/base:qa", "refused")]),
        "unsigned/app.Dockerfile": (4, [("reg.example/base:1", "trusted"),
                                        ("reg.example/base:missing", "refused")]),
    }
    assert result.code == 4 == report["exit_code"]  # the worst of 0, 3 and 4
    broken = next(f for f in report["files"] if f["dockerfile"] == "broken/Dockerfile")
    assert broken["error"]["reason"] == "dockerfile" and broken["error"]["line"] == 3
    # every distinct image once: the repository's trust data is fetched once for the run
    assert report["images"] == 5
    assert sim.requests_for("reg.example/base").count("timestamp.json") == 1
    text = scan(env=env, cwd=root)
    assert text.code == 4
    assert "unsigned/app.Dockerfile:2: refused: reg.example/base:missing" in text.out
    assert "broken/Dockerfile:3: error:" in text.out
    assert text.out.strip().splitlines()[-1].startswith("scanned 6 Dockerfiles (3 failing)")


def test_scan_sarif(env: dict[str, str | None], tmp_path: Path) -> None:
    root = tree(tmp_path / "repo", MIXED)
    result = scan("--format", "sarif", "-o", "out.sarif", env=env, cwd=root)
    assert result.code == 4 and result.out == ""
    assert "sarif report written to out.sarif" in result.err
    document = json.loads((root / "out.sarif").read_text())
    log = validate_sarif(document)
    results = log.runs[0].results or []
    located = sorted((r.rule_id, r.locations[0].physical_location.artifact_location.uri,
                      r.locations[0].physical_location.region.start_line)
                     for r in results if r.locations and r.locations[0].physical_location
                     and r.locations[0].physical_location.artifact_location
                     and r.locations[0].physical_location.region)
    assert len(located) == len(results) == 3
    other = json.loads(scan("--format", "json", "other", env=env, cwd=root).out)
    other_reason = other["files"][0]["images"][0]["reason"]
    other_rule = "signed-by-other-role" if other_reason == "signed-by-other-role" \
        else "no-trust-data"
    assert located == sorted([
        ("dockerfile-error", "broken/Dockerfile", 3),
        (other_rule, "other/Dockerfile.qa", 1),
        ("no-trust-data", "unsigned/app.Dockerfile", 2)])
    # stdout by default, and the same document
    assert json.loads(scan("--format", "sarif", env=env, cwd=root).out) == document
    # GitLab's Code Quality report: the same findings
    quality = json.loads(scan("--format", "codequality", env=env, cwd=root).out)
    assert sorted((q["check_name"], q["location"]["path"], q["location"]["lines"]["begin"])
                  for q in quality) == located
    assert all(q["severity"] in ("critical", "major") and len(q["fingerprint"]) == 64
               and q["description"] for q in quality)


def test_scan_build_args_and_paths(env: dict[str, str | None], tmp_path: Path) -> None:
    root = tree(tmp_path / "repo", MIXED)
    result = scan("--format", "json", "--build-arg", "V=qa", "good", env=env, cwd=root)
    report = json.loads(result.out)
    assert result.code == 4
    assert [(f["dockerfile"], f["exit_code"]) for f in report["files"]] == [
        ("good/Containerfile", 0), ("good/Dockerfile", 4)]
    assert scan("good/Containerfile", env=env, cwd=root).code == 0
    assert scan("--exclude", "unsigned/", "--exclude", "other", "--exclude", "broken",
                env=env, cwd=root).code == 0


def test_scan_usage_errors(env: dict[str, str | None], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = scan("--format", "json", env=env, cwd=empty)
    assert result.code == 2 and "no Dockerfile under ." in result.err
    assert json.loads(result.out)["error"]["exit_code"] == 2
    assert scan("nowhere", env=env, cwd=empty).code == 2
    assert scan("--format", "xml", env=env, cwd=empty).code == 2


def test_a_gitignore_never_hides_what_git_tracks(tmp_path: Path) -> None:
    """A change can add `evil/` to .gitignore; the committed evil/Dockerfile is still
    scanned (only untracked files are hidden)."""
    from tests.checkout import git_repository

    root = tree(tmp_path / "repo", {"Dockerfile": "FROM a:1\n", "evil/Dockerfile": "FROM b:1\n"})
    git_repository(root)
    (root / ".gitignore").write_text("evil/\n*.Dockerfile\n")
    (root / "evil" / "new.Dockerfile").write_text("FROM c:1\n")  # untracked: hidden
    assert names(root) == ["Dockerfile", "evil/Dockerfile"]
    assert names(root, exclude=("evil/",)) == ["Dockerfile"]  # the user's own --exclude wins
