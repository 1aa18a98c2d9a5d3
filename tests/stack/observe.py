"""What a real builder fetched: a build with ``--no-cache`` on the stack's dockerd, after
removing the registry's images from the engine (dockerd's BuildKit and its classic builder
use a local image without asking the registry), and the manifest requests the registry's
access log shows for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli import entry_point
from tests.stack.services import DOCKER_CLI, Stack, run
from trustbuild._internal.dockerfile import BuildOptions, analyse
from trustbuild._internal.dockerfile.readers import reader_named
from trustbuild.errors import DockerfileError

_MANIFEST = re.compile(r'"(?:GET|HEAD) /v2/(\S+?)/manifests/(\S+) HTTP')
OUT_TAG = "tbobserved:latest"


@dataclass(frozen=True)
class Observed:
    code: int
    output: str
    tags: frozenset[str]  # registry/name:tag fetched by tag
    digests: frozenset[str]  # registry/name@digest fetched by digest

    @property
    def repositories(self) -> set[str]:
        return {t.rsplit(":", 1)[0] for t in self.tags} | {d.split("@")[0] for d in self.digests}


def manifest_requests(stack: Stack, since: int) -> tuple[set[str], set[str]]:
    """(by tag, by digest) manifest requests in the registry's access log after *since*."""
    with open(stack.root / "registry.log", "rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    tags: set[str] = set()
    digests: set[str] = set()
    for name, ref in _MANIFEST.findall(text):
        (digests if ":" in ref else tags).add(
            f"{stack.registry}/{name}{'@' if ':' in ref else ':'}{ref}")
    return tags, digests


def log_size(stack: Stack) -> int:
    return (stack.root / "registry.log").stat().st_size


def forget_images(stack: Stack, env: Mapping[str, str]) -> None:
    """Remove the registry's images (and the last observed build) from the engine."""
    docker = [DOCKER_CLI]
    run([*docker, "image", "rm", "-f", OUT_TAG], env, check=False)
    listed = run([*docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], env,
                 check=False).stdout.split()
    mine = [ref for ref in listed if ref.startswith(stack.registry + "/")]
    if mine:
        run([*docker, "image", "rm", "-f", *mine], env, check=False)
    run([*docker, "builder", "prune", "-af"], env, check=False)


def observe_build(stack: Stack, env: Mapping[str, str], dockerfile: str, *, buildkit: bool,
                  args: Sequence[str] = (), docker: str = DOCKER_CLI,
                  timeout: float = 300, extra_env: Mapping[str, str] | None = None
                  ) -> Observed:
    """Build *dockerfile* (``REG`` stands for the stack's registry) with ``--no-cache`` and
    return what the registry served for it."""
    env = {**env, "DOCKER_BUILDKIT": "1" if buildkit else "0", "DOCKER_CONTENT_TRUST": "0",
           **(extra_env or {})}
    forget_images(stack, env)
    with tempfile.TemporaryDirectory(prefix="tbobserve-") as ctx:
        Path(ctx, "Dockerfile").write_text(dockerfile.replace("REG", stack.registry),
                                           encoding="utf-8")
        start = log_size(stack)
        result = run([docker, "build", "--no-cache", "-t", OUT_TAG, *args, ctx], env,
                     check=False, timeout=timeout)
    tags, digests = manifest_requests(stack, start)
    return Observed(result.returncode, result.stdout + result.stderr, frozenset(tags),
                    frozenset(digests))


def run_trustbuild(stack: Stack, config: Path, ctx: Path, dockerfile: str, args: Sequence[str],
                   *, buildkit: bool, docker: str = DOCKER_CLI
                   ) -> subprocess.CompletedProcess[str]:
    """``trustbuild ARGS CTX`` as a user runs it against the stack, with *dockerfile*
    (``REG`` stands for the stack's registry) in *ctx*, the builder docker would use and
    *docker* as its docker CLI.  ``TRUSTBUILD_UNDER_TEST=/path/to/checkout`` runs another
    checkout's trustbuild (to show a test failed before a change)."""
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile.replace("REG", stack.registry), encoding="utf-8")
    env = {**stack.env(config), "DOCKER_BUILDKIT": "1" if buildkit else "0",
           "TRUSTBUILD_DOCKER": docker}
    under_test = os.environ.get("TRUSTBUILD_UNDER_TEST")
    if under_test:
        env["PYTHONPATH"] = under_test
    # the installed command (its JSON checked against the schemas), or the other checkout's
    program = [sys.executable, "-m", "trustbuild"] if under_test else [entry_point()]
    return subprocess.run([*program, *args, str(ctx)], env=env,
                          cwd=ctx.parent, capture_output=True, text=True, timeout=600,
                          check=False)


def listed_by_trustbuild(stack: Stack, dockerfile: str, rules: str,
                         **options: Any) -> set[str] | None:
    """What trustbuild's front end lists for *dockerfile* read by *rules*; None when it
    refuses the file."""
    try:
        analysis = analyse(dockerfile.replace("REG", stack.registry),
                           BuildOptions(reader=reader_named(rules), **options))
    except DockerfileError:
        return None
    return {str(p.reference) for p in analysis.pulls}
