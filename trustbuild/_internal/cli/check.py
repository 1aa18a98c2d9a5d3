"""``trustbuild check``: the CI gate."""

from __future__ import annotations

from collections.abc import Mapping

from trustbuild import api
from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    BUILDER_RULES,
    CONFIG,
    DOCKER,
    FORMAT,
    LOCK_FILE,
    LOCKED,
    OFFLINE,
    VERBOSE,
    DockerStyle,
    Streams,
    TerminalProgress,
    locked_option,
    progress,
)
from trustbuild._internal.docker_args import BuildCommand, refuse_unsupported
from trustbuild._internal.plan import CheckReport


def checked(cmd: BuildCommand, env: Mapping[str, str], *, gate: bool = True) -> CheckReport:
    with progress() as shown:
        return _checked(cmd, env, gate=gate, shown=shown)


def _checked(cmd: BuildCommand, env: Mapping[str, str], *, gate: bool,
             shown: TerminalProgress | None) -> CheckReport:
    """The check a docker command line describes (``check``, ``pin``); with ``--locked``,
    held to the lock (*gate*: a lock entry the build no longer pulls fails it)."""
    refuse_unsupported(cmd)
    request = api.request_from(cmd, env)
    reader = api.decide_reader(cmd.own_value("builder-rules"), docker=cmd.own_value("docker"),
                               env=env, builder_name=cmd.last("builder"))
    client = api.trust_client(request.context, config=cmd.own_value("config"),
                              offline=cmd.has_own("offline"), env=env, progress=shown)
    stdin = _stdin() if request.dockerfile == "-" else None
    locked = locked_option(cmd)
    if locked is not False:
        return api.locked_check_request(request, reader, client, stdin,
                                        locked if isinstance(locked, str) else None,
                                        gate=gate, docker=cmd.own_value("docker"),
                                        env=env)[1]
    return api.check_request(request, reader, client, stdin, docker=cmd.own_value("docker"),
                             env=env)[1]


def _stdin() -> bytes:
    import sys

    return sys.stdin.buffer.read()


def run(cmd: BuildCommand, env: Mapping[str, str]) -> int:
    report = checked(cmd, env)
    streams = Streams()
    if cmd.own_value("format") == "json":
        streams.out(output.to_json(output.check_json(report)))
        streams.err(f"trustbuild: {output.check_summary(report)}")
    else:
        streams.out(output.check_text(report, quiet=cmd.quiet))
    return report.exit_code


COMMAND = DockerStyle(
    "check",
    "trustbuild check [trustbuild options] [docker build options] [PATH]",
    """The CI gate: verify every image a build would pull; no build.

Exit 0 only when every image is trusted (or allowed by the policy).  With --locked, the
review gate for a lock: also exit 4 when the Dockerfile pulls an image the lock does not
list, the lock lists one it no longer pulls, or trust data no longer signs a locked digest.""",
    (FORMAT, BUILDER_RULES, CONFIG, OFFLINE, LOCKED, LOCK_FILE, DOCKER, VERBOSE), run)
command = COMMAND.click_command()
