"""``trustbuild refs``: the images a build would pull, without network."""

from __future__ import annotations

from collections.abc import Mapping

from trustbuild import api
from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    BUILDER_RULES,
    CONFIG,
    DOCKER,
    FORMAT,
    VERBOSE,
    DockerStyle,
    Streams,
)
from trustbuild._internal.docker_args import BuildCommand
from trustbuild._internal.policy import load


def run(cmd: BuildCommand, env: Mapping[str, str]) -> int:
    request = api.request_from(cmd, env)
    reader = api.decide_reader(cmd.own_value("builder-rules"), docker=cmd.own_value("docker"),
                               env=env, builder_name=cmd.last("builder"))
    stdin = None
    if request.dockerfile == "-":
        import sys

        stdin = sys.stdin.buffer.read()
    policy = load(config=cmd.own_value("config"), context=request.context, env=env)
    report = api.refs_for(request, reader, policy, stdin)
    streams = Streams()
    if cmd.own_value("format") == "json":
        streams.out(output.to_json(output.refs_json(report)))
    elif report.pulls:
        streams.out(output.refs_text(report))
    for warning in report.warnings:
        streams.err(f"trustbuild: warning: {warning}")
    return 0


COMMAND = DockerStyle(
    "refs",
    "trustbuild refs [trustbuild options] [docker build options] [PATH]",
    """List the images a build would pull.  No network.

The builder's rules apply (global ARGs and --build-arg in FROM, stage names, --target,
COPY --from, RUN --mount from=, ONBUILD triggers of parent stages, the # syntax= frontend).""",
    (FORMAT, BUILDER_RULES, CONFIG, DOCKER, VERBOSE), run)
command = COMMAND.click_command()
