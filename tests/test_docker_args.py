"""docker build command lines, read as docker reads them.

Each line of the table is checked two ways: against the expected reading, and against the real
docker CLI (`/usr/bin/docker`, with BuildKit's flags), which must accept exactly the lines the
parser accepts.  The CLI is pointed at a socket that does not exist, so it parses its flags and
then fails to connect: "unknown flag" and "requires exactly 1 argument" come before that.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

import pytest

from tests.stack.services import DOCKER_CLI, ensure_packages
from trustbuild._internal.cli.base import VERBOSE
from trustbuild._internal.docker_args import (
    build_args_from,
    is_remote_context,
    parse,
    platforms_or_default,
)
from trustbuild.errors import UsageError


@dataclass(frozen=True)
class Case:
    argv: list[str]
    context: str | None = "."
    file: str | None = None
    tags: list[str] = field(default_factory=list)
    build_args: list[str] = field(default_factory=list)
    target: str | None = None
    platform: str | None = None
    quiet: bool = False


TABLE = [
    Case(["-t", "app:1", "."], tags=["app:1"]),
    Case(["-tapp:1", "."], tags=["app:1"]),
    Case(["--tag=app:1", "--tag", "app:latest", "."], tags=["app:1", "app:latest"]),
    Case(["-f", "build/Dockerfile", "."], file="build/Dockerfile"),
    Case(["-f=x.Dockerfile", "."], file="x.Dockerfile"),
    Case(["--file=x.Dockerfile", "."], file="x.Dockerfile"),
    Case(["-fx.Dockerfile", "."], file="x.Dockerfile"),
    Case(["-f", "a", "-f", "b", "."], file="b"),
    Case(["-qt", "img", "."], tags=["img"], quiet=True),
    Case(["--build-arg", "A=1", "--build-arg=B=2", "--build-arg", "C", "."],
         build_args=["A=1", "B=2", "C"]),
    Case(["--target", "prod", "--platform", "linux/amd64,linux/arm64", "."], target="prod",
         platform="linux/amd64,linux/arm64"),
    Case([".", "-t", "late"], tags=["late"]),
    Case(["--label", "-t", "."]),  # the label is "-t": docker knows --label takes a value
    Case(["--network", "host", "--add-host", "h:1.2.3.4", "--no-cache", "--pull", "."]),
    Case(["--pull=false", "--rm=true", "--force-rm", "-q", "."], quiet=True),
    Case(["--cache-from", "img:cache", "--iidfile", "id.txt", "--shm-size", "64m",
          "--ulimit", "nofile=1024:1024", "--cpu-shares", "2", "-m", "1g", "."]),
    Case(["--secret", "id=s,src=f", "--ssh", "default", "--progress", "plain",
          "-o", "type=local,dest=out", "."]),
    Case(["--", "."]),
    Case(["-t", "x", "--", "ctx"], context="ctx", tags=["x"]),
    Case(["--memory-swap=-1", "--security-opt", "seccomp=unconfined", "ctx"], context="ctx"),
    Case(["-"], context="-"),
    Case(["https://github.com/a/b.git#main"], context="https://github.com/a/b.git#main"),
    # docker refuses these
    Case(["--targ", "x", "."], context=None),
    Case(["-t"], context=None),
    Case(["-x", "."], context=None),
    Case([".", "other"], context=None),
    Case([], context=None),
    Case(["--pull=maybe", "."], context=None),
]


@pytest.mark.parametrize("case", TABLE, ids=[" ".join(c.argv) or "(none)" for c in TABLE])
def test_reading(case: Case) -> None:
    if case.context is None:
        with pytest.raises(UsageError):
            parse(case.argv)
        return
    cmd = parse(case.argv)
    assert cmd.context == case.context
    assert cmd.file == case.file
    assert cmd.values("tag") == case.tags
    assert cmd.values("build-arg") == case.build_args
    assert cmd.last("target") == case.target
    assert cmd.last("platform") == case.platform
    assert cmd.quiet == case.quiet


def _docker_accepts(argv: list[str]) -> bool:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock",
           "DOCKER_BUILDKIT": "1", "DOCKER_CONFIG": "/nonexistent"}
    result = subprocess.run([DOCKER_CLI, "build", *argv], env=env, capture_output=True,
                            text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    err = result.stderr.lower()
    refused = ("unknown flag" in err or "unknown shorthand" in err or "requires exactly"
               in err or "needs an argument" in err or "invalid argument" in err)
    return not refused


@pytest.mark.parametrize("case", TABLE, ids=[" ".join(c.argv) or "(none)" for c in TABLE])
def test_docker_cli_agrees(case: Case) -> None:
    ensure_packages()
    assert _docker_accepts(case.argv) == (case.context is not None)


def test_rewriting_replaces_only_the_file_and_given_build_args() -> None:
    cmd = parse(["-f", "a", "--build-arg", "BUILDKIT_SYNTAX=x", "-t", "n", "--build-arg",
                 "K=V", "--", "ctx"])
    assert cmd.rewritten("/tmp/pinned/a", {"BUILDKIT_SYNTAX": "x@sha256:1"}) == [
        "--file", "/tmp/pinned/a", "--build-arg", "BUILDKIT_SYNTAX=x@sha256:1",
        "--tag=n", "--build-arg=K=V", "ctx"]


@pytest.mark.parametrize(("argv", "expected"), [
    # `-vt WORD`: -v is trustbuild's, -t docker's; WORD is the tag's value, never a word of
    # its own that docker would read as a flag (here a second --file)
    (["-vt", "--file=evil.Dockerfile", "ctx"], ["--tag=--file=evil.Dockerfile", "ctx"]),
    (["-vq", "ctx"], ["--quiet", "ctx"]),
    (["-qv", "-t", "n", "ctx"], ["--quiet", "--tag=n", "ctx"]),
    (["-vtname", "--target=x", "ctx"], ["--tag=name", "--target=x", "ctx"]),
    (["--pull=false", "--", "-ctx"], ["--pull=false", "--", "-ctx"]),
])
def test_rewriting_writes_each_docker_flag_from_what_was_read(argv: list[str],
                                                             expected: list[str]) -> None:
    cmd = parse(argv, [VERBOSE])
    assert cmd.rewritten("/p/D") == ["--file", "/p/D", *expected]


@pytest.mark.parametrize(("context", "remote"), [
    ("https://example.com/ctx.tar.gz", True), ("git@github.com:a/b.git", True),
    ("github.com/a/b", True), ("git://host/repo", True), ("./dir", False), (".", False),
    ("/abs/path", False)])
def test_remote_contexts(context: str, remote: bool) -> None:
    assert is_remote_context(context) == remote


def test_a_bare_build_arg_unset_in_the_environment_takes_the_last_word() -> None:
    # docker keeps the last --build-arg of a key: a bare one without a value in the
    # environment leaves the ARG's default, whatever an earlier word said
    assert build_args_from(["A=x", "A"], {}) == {}
    assert build_args_from(["A=x", "A"], {"A": "env"}) == {"A": "env"}
    assert build_args_from(["A", "A=y"], {}) == {"A": "y"}


def test_an_empty_platform_flag_is_given_and_means_native() -> None:
    env = {"DOCKER_DEFAULT_PLATFORM": "linux/arm64"}
    assert platforms_or_default([], env) == ("linux/arm64",)
    assert platforms_or_default([""], env) == ()
    assert platforms_or_default(["linux/amd64,linux/arm/v7"], env) == (
        "linux/amd64", "linux/arm/v7")
