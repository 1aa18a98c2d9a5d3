"""Concurrency and faults on the real stack: many `trustbuild check` processes on one trust
dir at once, and runs killed with SIGKILL in the middle of a first use.  Every answer is right,
and the trust dir stays one the notary CLI (and the next run) can use.

Only the command line's contract is relied on: exit codes (0 ok, 4 untrusted, 5 trust error)
and ``--format json`` giving an object whose ``images`` each have ``status`` and ``digest``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli import installed_script
from tests.schemas import validate
from tests.stack.catalog import Catalog
from tests.stack.services import Stack, ensure_packages

pytestmark = pytest.mark.stack

PROCESSES = 8
KILLS = 10
OK, UNTRUSTED, TRUST_ERROR = 0, 4, 5


@dataclass(frozen=True)
class Expected:
    trusted: tuple[str, ...]  # digests, sorted
    refused: int  # how many images have no acceptable trust data


def dockerfile(tmp_path: Path, catalog: Catalog) -> tuple[Path, Expected]:
    """Three signed images (targets, targets/releases, both) and two without acceptable trust
    data (another delegation only; no trust data at all)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(
        f"FROM {catalog.legacy.ref}\n"
        f"COPY --from={catalog.releases.ref} /etc/tb-image /releases\n"
        f"COPY --from={catalog.both_targets.ref} /etc/tb-image /both\n"
        f"COPY --from={catalog.other_delegation.ref} /etc/tb-image /other\n"
        f"COPY --from={catalog.no_trust_data.ref} /etc/tb-image /none\n")
    trusted = sorted([catalog.legacy.digest, catalog.releases.digest,
                      catalog.both_releases.digest])
    return ctx, Expected(tuple(trusted), 2)


def environment(stack: Stack, config: Path) -> dict[str, str]:
    env = stack.env(stack.docker_config(config))
    env["XDG_CONFIG_HOME"] = f"{config}-xdg"  # no user policy from this machine
    return env


def start(ctx: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # The console script itself (not the validating wrapper): SIGKILL must reach trustbuild.
    return subprocess.Popen([installed_script(), "check", "--format", "json",
                             str(ctx)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    def images(self) -> list[dict[str, object]]:
        report = json.loads(self.stdout)
        assert isinstance(report, dict), self.stdout
        validate("check", report)
        images = report["images"]
        assert isinstance(images, list)
        return images


def finish(proc: subprocess.Popen[str]) -> Outcome:
    out, err = proc.communicate(timeout=300)
    return Outcome(proc.returncode, out, err)


def assert_right(outcome: Outcome, expected: Expected) -> None:
    """The answer a correct run gives: every signed image at its signed digest, the others
    refused."""
    assert outcome.code == UNTRUSTED, outcome
    images = outcome.images()
    trusted = sorted(str(i["digest"]) for i in images if i["status"] == "trusted")
    assert tuple(trusted) == expected.trusted, images
    assert [i["status"] for i in images].count("refused") == expected.refused, images


def assert_never_wrong(outcome: Outcome, expected: Expected, note: str = "") -> None:
    """Right, or trust could not be established with a message that says why; never a wrong
    digest, never an image trusted that is not signed, never a traceback."""
    assert "Traceback" not in outcome.stderr, (note, outcome.stderr)
    if outcome.code == UNTRUSTED:
        assert_right(outcome, expected)
        return
    assert outcome.code == TRUST_ERROR, (note, outcome)
    images = outcome.images()
    for image in images:
        if image["status"] == "trusted":
            assert image["digest"] in expected.trusted, (note, image)
    failed = [i for i in images if i["status"] not in ("trusted", "refused")]
    assert failed, (note, images)
    assert all(len(json.dumps(i)) > 40 for i in failed), note  # a message, not a bare code


def notary_reads(stack: Stack, trust_dir: Path, images: Sequence[tuple[str, str, str]]
                 ) -> None:
    """The notary CLI, pointed at a dead server, answers from the trust dir alone."""
    ensure_packages()
    for repo, tag, digest in images:
        out = subprocess.run(["notary", "-s", "https://127.0.0.1:9", "-d", str(trust_dir),
                              "--tlscacert", str(stack.notary_ca), "lookup", repo, tag],
                             capture_output=True, text=True, check=False, timeout=60)
        assert out.stdout.split()[:2] == [tag, digest], out.stdout + out.stderr


def leftovers(trust_dir: Path) -> list[Path]:
    """Temp files of atomic writes that were not renamed into place."""
    return [p for p in trust_dir.rglob(".*") if p.is_file()
            and not p.name.startswith(".trustbuild")]


@pytest.mark.parametrize("warm", [False, True])
def test_eight_checks_at_once_on_one_trust_dir(stack: Stack, catalog: Catalog,
                                               tmp_path: Path, warm: bool) -> None:
    ctx, expected = dockerfile(tmp_path, catalog)
    env = environment(stack, tmp_path / "docker")
    if warm:
        assert_right(finish(start(ctx, env)), expected)
    procs = [start(ctx, env) for _ in range(PROCESSES)]
    for proc in procs:
        assert_right(finish(proc), expected)
    trust_dir = tmp_path / "docker" / "trust"
    assert leftovers(trust_dir) == []
    notary_reads(stack, trust_dir, [
        (catalog.legacy.repo, catalog.legacy.tag, catalog.legacy.digest),
        (catalog.releases.repo, catalog.releases.tag, catalog.releases.digest)])
    assert_right(finish(start(ctx, env)), expected)  # and the next run uses it


def cached_files(trust_dir: Path) -> int:
    return len(list(trust_dir.rglob("*.json"))) if trust_dir.exists() else 0


def kill_when(proc: subprocess.Popen[str], trust_dir: Path, *, after: float = 0.0,
              files: int = 0) -> None:
    """SIGKILL *proc* once *after* seconds have passed and the trust dir holds *files*
    metadata files (or when it exits by itself first)."""
    deadline = time.monotonic() + after
    while proc.poll() is None and (time.monotonic() < deadline
                                   or cached_files(trust_dir) < files):
        time.sleep(0.001)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


def test_runs_killed_during_a_first_use_never_lead_to_a_wrong_answer(
        stack: Stack, catalog: Catalog, tmp_path: Path) -> None:
    ctx, expected = dockerfile(tmp_path, catalog)
    env = environment(stack, tmp_path / "measure")
    began = time.monotonic()
    assert_right(finish(start(ctx, env)), expected)
    first_use = time.monotonic() - began
    total = cached_files(tmp_path / "measure" / "trust")
    seed = int(os.environ.get("TRUSTBUILD_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    # Kill points: at random times over the whole first use (interpreter start-up included),
    # and right after the k-th metadata file lands in the trust dir, for k across all of them.
    points = [(first_use * (i + rng.random()) / KILLS, 0) for i in range(KILLS)]
    points += [(0.0, k) for k in sorted(rng.sample(range(1, total), min(KILLS, total - 1)))]
    partial = 0
    for i, (after, files) in enumerate(points):
        config = tmp_path / f"killed{i}"
        env = environment(stack, config)
        kill_when(start(ctx, env), config / "trust", after=after, files=files)
        partial += 0 < cached_files(config / "trust") < total
        outcome = finish(start(ctx, env))
        context = (f"(seed {seed}, killed after {after:.3f}s / {files} files, first use "
                   f"{first_use:.2f}s)")
        assert_never_wrong(outcome, expected, context)
        if outcome.code == UNTRUSTED:
            notary_reads(stack, config / "trust", [
                (catalog.legacy.repo, catalog.legacy.tag, catalog.legacy.digest),
                (catalog.releases.repo, catalog.releases.tag, catalog.releases.digest)])
    # one trust dir killed again and again, further along each time, then used
    config = tmp_path / "killed-repeatedly"
    env = environment(stack, config)
    for files in range(1, total, 3):
        kill_when(start(ctx, env), config / "trust", files=files)
    assert_never_wrong(finish(start(ctx, env)), expected)
    assert partial >= KILLS // 3, f"only {partial} kills left a partial trust dir (seed {seed})"
