"""`trustbuild build` on the real stack, where docker could once build something other than
what was checked: a builder alias docker 20.10 follows before DOCKER_BUILDKIT, and a short
flag word holding one of trustbuild's flags and one of docker's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GoodAndBad
from tests.stack.observe import log_size, manifest_requests
from tests.stack.services import DOCKER_CLI, Stack

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = """#!/bin/sh
# stands in for buildx with its docker driver: `docker buildx build ARGS` builds ARGS with
# the daemon's BuildKit (as buildx's default builder does on a 20.10 engine)
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"review","Version":"v0.10.0"}'; exit 0
fi
echo "PLUGIN ARGV: $*" >> "$PLUGIN_LOG"
echo "PLUGIN DOCKER_BUILDKIT=$DOCKER_BUILDKIT" >> "$PLUGIN_LOG"
shift  # buildx
shift  # build
DOCKER_CONFIG="$INNER_CONFIG" DOCKER_BUILDKIT=1 exec /usr/bin/docker build "$@"
"""


def run_tb(stack: Stack, config: Path, argv: list[str], extra_env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**stack.env(config), "TRUSTBUILD_DOCKER": DOCKER_CLI,
           "PYTHONPATH": str(ROOT), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "trustbuild", *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.stack
def test_a_builder_alias_on_docker_20_10_is_followed(stack: Stack, good_and_bad: GoodAndBad,
                                                     consumer_config: Path,
                                                     tmp_path: Path) -> None:
    """docker 20.10 follows config.json aliases.builder (`docker buildx install`) whatever
    DOCKER_BUILDKIT says: trustbuild reads the file as BuildKit does, so the unsigned
    `# syntax=` frontend is refused before docker runs (a stub plugin stands in for buildx,
    building with the daemon's BuildKit)."""
    inner = stack.docker_config(tmp_path / "inner")
    plugins = consumer_config / "cli-plugins"
    plugins.mkdir()
    (plugins / "docker-buildx").write_text(PLUGIN)
    os.chmod(plugins / "docker-buildx", 0o755)
    (consumer_config / "config.json").write_text(json.dumps({"aliases": {"builder": "buildx"}}))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    reg = stack.registry
    (ctx / "Dockerfile").write_text(f"# syntax={reg}/tb/xbad:1\nFROM {reg}/tb/xgood:1\n"
                                    "RUN true\n")
    log = tmp_path / "plugin.log"
    start = log_size(stack)
    result = run_tb(stack, consumer_config, ["-v", "--no-cache", "-t", "r7alias:1", str(ctx)],
                    {"PLUGIN_LOG": str(log), "INNER_CONFIG": str(inner)})
    tags, _ = manifest_requests(stack, start)
    assert result.returncode == 4, result.stderr[-2000:]  # no trust data for the frontend
    assert "aliases.builder" in result.stderr
    # (trustbuild asked the plugin `buildx inspect`; no build reached it)
    assert "buildx build" not in (log.read_text() if log.exists() else "")
    assert good_and_bad.bad.ref not in tags


@pytest.mark.stack
def test_a_word_holding_own_and_docker_flags_hands_docker_no_stray_word(
        stack: Stack, good_and_bad: GoodAndBad, consumer_config: Path, tmp_path: Path) -> None:
    """`-vt WORD`: WORD is the tag's value; docker is handed `--tag=WORD`, never WORD as a
    word of its own (which it would read as a second --file)."""
    reg = stack.registry
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {reg}/tb/xgood:1\nRUN true\n")
    evil = tmp_path / "evil.Dockerfile"
    evil.write_text(f"FROM {reg}/tb/xbad:1\nRUN cat /etc/tb-image > /seen\n")
    result = run_tb(stack, consumer_config, ["-vt", f"--file={evil}", "--no-cache", str(ctx)],
                    {"DOCKER_BUILDKIT": "1"})
    assert "tb/xbad" not in result.stderr, "docker built a Dockerfile trustbuild never read"
    assert result.returncode != 0  # docker refuses the tag "--file=…"
    assert f"--tag=--file={evil}" in result.stderr or "invalid" in result.stderr
