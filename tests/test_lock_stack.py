"""Locks and scans end to end: real dockerd (BuildKit), registry and notary-server(s)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import test_build_stack as build_stack
from tests.cli import entry_point
from tests.sarifcheck import validate_sarif
from tests.schemas import validate_lock, validate_scan
from tests.stack.catalog import Catalog
from tests.stack.publisher import Publisher
from tests.stack.services import DOCKER_CLI, Stack, extra_notary

pytestmark = pytest.mark.stack

# the build tests' runner: the installed trustbuild against the stack, no temp files left
tb = build_stack.tb
recorder = build_stack.recorder
context = build_stack.context
TB = build_stack.TB


def handing_shim(tmp_path: Path) -> tuple[str, Path]:
    """A docker CLI that keeps a copy of each Dockerfile it is handed, then runs docker."""
    seen = tmp_path / "handed"
    seen.mkdir()
    shim = tmp_path / "docker-handing"
    shim.write_text(
        "#!/bin/sh\nprev=\nfor a in \"$@\"; do\n"
        f"  if [ \"$prev\" = --file ]; then cp \"$a\" {seen}/Dockerfile.$$; fi\n"
        "  prev=$a\ndone\n"
        f"exec {DOCKER_CLI} \"$@\"\n")
    shim.chmod(0o755)
    return str(shim), seen


def git(ctx: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(ctx), "-c", "user.name=t", "-c", "user.email=t@t",
                    *args], check=True, capture_output=True)


def test_a_committed_lock_rebuilds_exactly_the_locked_digests(
        tb: TB, stack: Stack, publisher: Publisher, tmp_path: Path) -> None:
    base = publisher.sign_legacy("tb/lbase", "1")
    tool = publisher.sign_delegation("tb/ltool", "1")
    ctx = context(tmp_path, f"FROM {base.ref} AS b\nRUN cat /etc/tb-image > /seen\n"
                            f"FROM {tool.ref}\nCOPY --from=b /seen /seen\n")
    locked = tb("lock", str(ctx))
    assert locked.code == 0, locked.err
    doc = json.loads((ctx / "trustbuild.lock.json").read_text())
    validate_lock(doc)
    assert {(i["reference"], i["digest"], i["role"]) for i in doc["images"]} == {
        (base.ref, base.digest, "targets"), (tool.ref, tool.digest, "targets/releases")}
    assert all(i["key_ids"] and i["metadata_version"] >= 1 and i["metadata_expires"]
               and i["server"] == stack.notary_hostport for i in doc["images"])
    git(ctx, "init", "-q")
    git(ctx, "add", ".")
    git(ctx, "commit", "-q", "-m", "lock base images")
    shim, handed = handing_shim(tmp_path)
    result = tb("build", "--locked", "-t", "tblock/app:1", str(ctx), docker=shim)
    assert result.code == 0, result.err
    assert f"{base.ref} -> {base.digest} (targets; as locked in" in result.err
    [pinned] = handed.iterdir()
    text = pinned.read_text()
    assert f"FROM {base.repo}@{base.digest} AS b" in text or \
        f"FROM {base.ref}@{base.digest} AS b" in text
    assert f"{tool.digest}" in text
    seen = publisher.docker("run", "--rm", "tblock/app:1", "cat", "/seen").strip()
    assert seen == f"{base.repo}:{base.tag}"
    git(ctx, "diff", "--exit-code")  # nothing the build did changed the committed files


def test_a_tag_re_signed_after_locking_stops_the_locked_build(
        tb: TB, publisher: Publisher, tmp_path: Path, recorder: tuple[str, Path]) -> None:
    first = publisher.sign_legacy("tb/lmoving", "1")
    ctx = context(tmp_path, f"FROM {first.ref}\nRUN true\n")
    assert tb("lock", str(ctx)).code == 0
    again = publisher.push_unsigned("tb/lmoving", "1", marker="RE-SIGNED")
    moved = publisher.sign_targets_hash("tb/lmoving", again)
    assert moved.digest != first.digest
    shim, calls = recorder
    for command in (["build", "--locked", "-t", "tblock/moved"], ["check", "--locked"],
                    ["pin", "--locked"]):
        result = tb(*command, str(ctx), docker=shim)
        assert result.code == 4, (command, result.err)
        said = result.out + result.err
        assert f"{first.ref} moved" in said, said
        assert first.digest in said and moved.digest in said
        assert "run `trustbuild lock`" in said
    assert not calls.exists() or "build" not in calls.read_text(), "docker build ran"
    # re-locking accepts the move and says so; then the locked build runs
    relocked = tb("lock", str(ctx))
    assert relocked.code == 0
    assert f"{first.digest} \u2192 {moved.digest} (targets)" in relocked.out
    assert tb("check", "--locked", str(ctx)).code == 0


def test_locked_offline_builds_with_the_trust_server_stopped(
        stack: Stack, tmp_path: Path) -> None:
    with extra_notary(stack, "offline-notary") as notary:
        publisher = Publisher(stack, tmp_path / "pub", notary_url=notary.url,
                              notary_ca=notary.ca)
        image = publisher.sign_legacy("tb/loffline", "1")
        config = publisher.docker_config  # trusts the second server's certificate
        env = {**stack.env(config), "DOCKER_CONTENT_TRUST_SERVER": notary.url,
               "TRUSTBUILD_DOCKER": DOCKER_CLI, "DOCKER_BUILDKIT": "1"}
        ctx = context(tmp_path, f"FROM {image.ref}\nRUN cat /etc/tb-image > /seen\n")
        run = entry_point()
        locked = subprocess.run([run, "lock", str(ctx)], env=env, capture_output=True,
                                text=True, check=False)
        assert locked.returncode == 0, locked.stderr
    # the server is gone: online, the locked digest cannot be confirmed (exit 5) …
    online = subprocess.run([run, "build", "--locked", "-t", "tblock/offline", str(ctx)],
                            env=env, capture_output=True, text=True, check=False)
    assert online.returncode == 5, online.stderr
    # … offline, the locked digest is confirmed against the trust cache `lock` filled
    offline = subprocess.run([run, "build", "--locked", "--offline", "-t", "tblock/offline",
                              str(ctx)], env=env, capture_output=True, text=True,
                             check=False)
    assert offline.returncode == 0, offline.stderr
    assert "confirmed against the local trust cache" in offline.stderr
    assert f"{image.ref} -> {image.digest}" in offline.stderr
    seen = publisher.docker("run", "--rm", "tblock/offline", "cat", "/seen").strip()
    assert seen == image.ref


def test_scan_a_tree_of_good_and_bad_dockerfiles(tb: TB, catalog: Catalog,
                                                 tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files = {
        "web/Dockerfile": f"ARG BASE={catalog.releases.ref}\nFROM ${{BASE}} AS b\n"
                          f"FROM {catalog.legacy.ref}\nCOPY --from=b / /b\n",
        "api/app.Dockerfile": f"FROM {catalog.legacy.ref}\n"
                              f"COPY --from={catalog.unsigned_tag.ref} / /u\n",
        "qa/Dockerfile.qa": f"FROM {catalog.other_delegation.ref}\n",
        "vendor/Containerfile": f"FROM {catalog.no_trust_data.ref}\n",
        "broken/Dockerfile": "FROM\n",
        "skipped/Dockerfile": f"FROM {catalog.no_trust_data.ref}\n",
        ".gitignore": "skipped/\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    # a git repository (nothing tracked): there .gitignore hides the untracked skipped/
    subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
    sarif = tmp_path / "scan.sarif"
    result = tb("scan", "--format", "sarif", "-o", str(sarif), str(root))
    assert result.code == 4, result.err
    log = validate_sarif(json.loads(sarif.read_text()))
    report = json.loads(tb("scan", "--format", "json", str(root)).out)
    validate_scan(report)
    by_file = {Path(f["dockerfile"]).relative_to(root).as_posix(): f for f in report["files"]}
    assert {name: f["exit_code"] for name, f in by_file.items()} == {
        "web/Dockerfile": 0, "api/app.Dockerfile": 4, "qa/Dockerfile.qa": 4,
        "vendor/Containerfile": 4, "broken/Dockerfile": 3}
    assert [(i["reference"], i["digest"]) for i in by_file["web/Dockerfile"]["images"]] == [
        (catalog.releases.ref, catalog.releases.digest),
        (catalog.legacy.ref, catalog.legacy.digest)]
    results = log.runs[0].results or []
    where = sorted(
        (r.rule_id or "", Path(r.locations[0].physical_location.artifact_location.uri or "")
         .name, r.locations[0].physical_location.region.start_line or 0)
        for r in results if r.locations and r.locations[0].physical_location
        and r.locations[0].physical_location.artifact_location
        and r.locations[0].physical_location.region)
    assert len(where) == len(results) == 4
    assert {(name, line) for _, name, line in where} == {
        ("Dockerfile", 1), ("app.Dockerfile", 2), ("Dockerfile.qa", 1), ("Containerfile", 1)}
    rules = {name: rule for rule, name, _ in where}
    assert rules["Dockerfile"] == "dockerfile-error"
    assert rules["app.Dockerfile"] == rules["Containerfile"] == "no-trust-data"
    assert rules["Dockerfile.qa"] in ("no-trust-data", "signed-by-other-role")
