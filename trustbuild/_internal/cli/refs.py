"""``trustbuild refs``: the images a build would pull, without network (``--onbuild``: base
images' ONBUILD triggers read, as ``check`` reads them)."""

from __future__ import annotations

from collections.abc import Mapping

from trustbuild import api
from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    BUILDER_RULES,
    CONFIG,
    DOCKER,
    FORMAT,
    OFFLINE,
    VERBOSE,
    DockerStyle,
    Streams,
)
from trustbuild._internal.docker_args import BuildCommand, OwnFlag
from trustbuild._internal.policy import load

ONBUILD = OwnFlag("onbuild", False, "resolve base images through trust data and read their "
                  "ONBUILD triggers at the signed digests (engine, registry), as check does; "
                  "exit 4 or 5 when some could not be read")


def run(cmd: BuildCommand, env: Mapping[str, str]) -> int:
    request = api.request_from(cmd, env)
    reader = api.decide_reader(cmd.own_value("builder-rules"), docker=cmd.own_value("docker"),
                               env=env, builder_name=cmd.last("builder"))
    stdin = None
    if request.dockerfile == "-":
        import sys

        stdin = sys.stdin.buffer.read()
    if cmd.has_own("onbuild"):
        client = api.trust_client(request.context, config=cmd.own_value("config"),
                                  offline=cmd.has_own("offline"), env=env)
        report = api.refs_for(request, reader, client.policy, stdin, client=client,
                              docker=cmd.own_value("docker"), env=env)
    else:
        policy = load(config=cmd.own_value("config"), context=request.context, env=env)
        report = api.refs_for(request, reader, policy, stdin)
    streams = Streams()
    if cmd.own_value("format") == "json":
        streams.out(output.to_json(output.refs_json(report)))
    elif report.pulls:
        streams.out(output.refs_text(report))
    for warning in report.warnings:
        streams.err(f"trustbuild: warning: {warning}")
    return report.exit_code


COMMAND = DockerStyle(
    "refs",
    "trustbuild refs [trustbuild options] [docker build options] [PATH]",
    """List the images a build would pull.  No network, unless --onbuild.

The builder's rules apply (global ARGs and --build-arg in FROM, stage names, --target,
COPY --from, RUN --mount from=, ONBUILD triggers of parent stages, the # syntax= frontend).
ONBUILD triggers stored in base images are read only with --onbuild (a warning names the
base images otherwise).""",
    (FORMAT, BUILDER_RULES, CONFIG, ONBUILD, OFFLINE, DOCKER, VERBOSE), run)
command = COMMAND.click_command()
