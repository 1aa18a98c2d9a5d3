from __future__ import annotations

import os
from pathlib import Path

import pytest

from trustbuild._internal.dockerfile import Builder
from trustbuild._internal.runner import (
    choose_builder,
    docker_env,
    parse_bool,
    pinned_copy,
    run_docker,
)
from trustbuild.errors import UsageError


def test_docker_gets_the_checked_builder_and_no_content_trust() -> None:
    env = {"DOCKER_CONTENT_TRUST": "1", "DOCKER_HOST": "unix:///x", "DOCKER_BUILDKIT": "1"}
    assert docker_env(env, Builder.CLASSIC, buildx=False) == {
        "DOCKER_HOST": "unix:///x", "DOCKER_BUILDKIT": "0"}
    assert docker_env(env, Builder.BUILDKIT, buildx=True) == {
        "DOCKER_HOST": "unix:///x", "DOCKER_BUILDKIT": "1"}


def test_builder_from_docker_buildkit_and_cli_version(tmp_path: Path) -> None:
    assert choose_builder("docker", {"DOCKER_BUILDKIT": "0"}, buildx=False) is Builder.CLASSIC
    assert choose_builder("docker", {"DOCKER_BUILDKIT": "true"}, buildx=False) is \
        Builder.BUILDKIT
    assert choose_builder("docker", {"DOCKER_BUILDKIT": "0"}, buildx=True) is Builder.BUILDKIT
    with pytest.raises(UsageError, match="expects boolean"):
        parse_bool("maybe", "DOCKER_BUILDKIT")
    # check and pin need no docker CLI; build does
    assert choose_builder("/nonexistent/docker", {}, buildx=False, building=False) is \
        Builder.BUILDKIT
    with pytest.raises(UsageError, match="cannot run docker"):
        choose_builder("/nonexistent/docker", {}, buildx=False)
    fake = tmp_path / "docker"
    for version, buildx_rc, expected in [("20.10.24", 1, Builder.CLASSIC),
                                         ("28.2.2", 1, Builder.CLASSIC),
                                         ("28.2.2", 0, Builder.BUILDKIT)]:
        fake.write_text(f"#!/bin/sh\n[ \"$1\" = buildx ] && exit {buildx_rc}\n"
                        f"echo 'Docker version {version}, build abc'\n")
        fake.chmod(0o755)
        assert choose_builder(str(fake), {}, buildx=False) is expected


def test_pinned_copy_keeps_the_dockerignore_and_is_removed(tmp_path: Path) -> None:
    original = tmp_path / "app.Dockerfile"
    original.write_text("FROM x\n")
    (tmp_path / "app.Dockerfile.dockerignore").write_text("secret\n")
    with pinned_copy("FROM x@sha256:1\n", original.name, original) as path:
        assert path.name == "app.Dockerfile" and path.read_text() == "FROM x@sha256:1\n"
        assert (path.parent / "app.Dockerfile.dockerignore").read_text() == "secret\n"
        workdir = path.parent
    assert not workdir.exists()
    with pytest.raises(RuntimeError), pinned_copy("x", "Dockerfile", None) as path:
        workdir = path.parent
        raise RuntimeError("boom")
    assert not workdir.exists()


def test_a_pinned_copy_that_cannot_be_written_is_one_clear_error() -> None:
    with pytest.raises(UsageError, match="cannot write the pinned copy"), \
            pinned_copy("FROM x\n", "no-such-dir/Dockerfile", None):
        pass


def test_run_docker_exit_status_and_signals() -> None:
    env = dict(os.environ)
    assert run_docker(["sh", "-c", "exit 7"], env, stdin_consumed=False) == 7
    assert run_docker(["sh", "-c", "kill -TERM $$"], env, stdin_consumed=False) == 128 + 15
    with pytest.raises(UsageError, match="cannot run docker"):
        run_docker(["/nonexistent/docker"], env, stdin_consumed=False)


def test_run_docker_child_gets_default_sigpipe_and_no_stdin(
        capfd: pytest.CaptureFixture[str]) -> None:
    """Python ignores SIGPIPE; docker must not inherit that.  A consumed stdin is /dev/null."""
    env = dict(os.environ)
    assert run_docker(["sh", "-c", "grep SigIgn /proc/self/status; cat; echo end"], env,
                      stdin_consumed=True) == 0
    out = capfd.readouterr().out
    ignored = int(out.split()[1], 16)
    assert not ignored & (1 << (13 - 1)), "SIGPIPE is ignored in the child"
    assert out.rstrip().endswith("end")
