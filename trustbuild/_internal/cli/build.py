"""``trustbuild [build] [docker build options] PATH``."""

from __future__ import annotations

from collections.abc import Mapping

from trustbuild import api
from trustbuild._internal.cli.base import (
    BUILDX,
    CONFIG,
    DOCKER,
    LOCK_FILE,
    LOCKED,
    OFFLINE,
    VERBOSE,
    DockerStyle,
    locked_option,
    progress,
)
from trustbuild._internal.docker_args import BuildCommand


def run(cmd: BuildCommand, env: Mapping[str, str]) -> int:
    with progress() as shown:
        client = api.trust_client(cmd.context, config=cmd.own_value("config"),
                                  offline=cmd.has_own("offline"), env=env, progress=shown)
        result = api.build_command(cmd, docker=cmd.own_value("docker"),
                                   buildx=cmd.has_own("buildx"), env=env, client=client,
                                   locked=locked_option(cmd))
    return result.exit_code


COMMAND = DockerStyle(
    "build",
    "trustbuild [build] [trustbuild options] [docker build options] PATH",
    """Build like `docker build`, but only on images whose tags are signed.

Every image the build pulls (FROM, COPY --from, RUN --mount from=, ONBUILD, # syntax=) is
resolved through Docker Content Trust; the build runs on a copy of the Dockerfile pinned to
the signed digests.  Any image without acceptable trust data stops everything before docker
starts.  Every other option goes to docker unchanged.

--locked builds on the digests in the lock (`trustbuild lock`): online, trust data must still
sign each one for its tag; with --offline, the lock's digests are used without asking any
trust server.""",
    (DOCKER, BUILDX, CONFIG, OFFLINE, LOCKED, LOCK_FILE, VERBOSE), run,
    context_optional=False)
command = COMMAND.click_command()
