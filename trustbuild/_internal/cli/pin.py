"""``trustbuild pin``: the pinned Dockerfile, for pipelines that build elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    BUILDER_RULES,
    CONFIG,
    DOCKER,
    LOCK_FILE,
    LOCKED,
    OFFLINE,
    OUTPUT,
    VERBOSE,
    DockerStyle,
    Streams,
)
from trustbuild._internal.cli.check import checked
from trustbuild._internal.docker_args import BuildCommand
from trustbuild._internal.runner import is_same_file
from trustbuild.errors import ExecutionError, UsageError


def run(cmd: BuildCommand, env: Mapping[str, str]) -> int:
    report = checked(cmd, env, gate=False)
    streams = Streams()
    if not report.passes:
        # Nothing on standard output: a pipe into `docker build -f -` gets no Dockerfile.
        streams.err(output.check_text(report))
        return report.exit_code
    if not report.ok:  # warn mode: what was let through is said, on standard error
        streams.err(output.check_text(report, quiet=True))
    pinned = report.pinned()
    data = pinned.text.encode("utf-8", "surrogateescape")
    for key, value in pinned.build_args.items():
        # A pin that cannot live in the file (BUILDKIT_SYNTAX overrides any `# syntax=`):
        # the build must be given it, or it builds on the tag.
        streams.err(f"trustbuild: build with --build-arg {key}={value}: your {key} is "
                    "pinned there, not in the Dockerfile")
    target = cmd.own_value("output")
    if target is None or target == "-":
        import sys

        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    source = Path(report.dockerfile)  # the file read (docker's default name or -f)
    path = Path(target)
    if path.exists() and source.exists() and is_same_file(path, source):
        raise UsageError(f"refusing to write the pinned Dockerfile over its input {target}")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ExecutionError(f"cannot write {target}: {exc.strerror or exc}") from None
    streams.err(f"trustbuild: {output.check_summary(report)}; pinned Dockerfile written "
                f"to {target}")
    return 0


COMMAND = DockerStyle(
    "pin",
    "trustbuild pin [-o FILE] [trustbuild options] [docker build options] [PATH]",
    """Write the Dockerfile pinned to signed digests.

To standard output, or to FILE (never over the input Dockerfile).  Nothing is written when an
image is not trusted: the reasons go to standard error and the exit code is check's.
With --locked, the lock's digests (online, confirmed against trust data first).""",
    (OUTPUT, BUILDER_RULES, CONFIG, OFFLINE, LOCKED, LOCK_FILE, DOCKER, VERBOSE), run)
command = COMMAND.click_command()
