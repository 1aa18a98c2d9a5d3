"""``trustbuild lock``: the signed digest of every image a build pulls, in a lock file."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from trustbuild import api
from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    BUILDER_RULES,
    CONFIG,
    DOCKER,
    LOCK_OUTPUT,
    OFFLINE,
    VERBOSE,
    DockerStyle,
    Streams,
    progress,
)
from trustbuild._internal.docker_args import BuildCommand, refuse_unsupported


def run(cmd: BuildCommand, env: Mapping[str, str]) -> int:
    refuse_unsupported(cmd)
    request = api.request_from(cmd, env)
    reader = api.decide_reader(cmd.own_value("builder-rules"), docker=cmd.own_value("docker"),
                               env=env, builder_name=cmd.last("builder"))
    stdin = sys.stdin.buffer.read() if request.dockerfile == "-" else None
    with progress() as shown:
        client = api.trust_client(request.context, config=cmd.own_value("config"),
                                  offline=cmd.has_own("offline"), env=env, progress=shown)
        result = api.lock_request(request, reader, client, stdin, cmd.own_value("output"),
                                  docker=cmd.own_value("docker"), env=env)
    streams = Streams()
    if result.lock is None:
        streams.err(output.check_text(result.report))
        streams.err(f"trustbuild: {result.lock_file} not written: every image must be "
                    "trusted to be locked")
        return result.exit_code
    text = output.lock_changes_text(result.changes)
    if text:
        streams.out(text)
    streams.err(f"trustbuild: {output.lock_summary(result)}")
    return result.exit_code


COMMAND = DockerStyle(
    "lock",
    "trustbuild lock [-o FILE] [trustbuild options] [docker build options] [PATH]",
    """Write the signed digest of every image the build pulls to a lock file.

The lock (trustbuild.lock.json beside the Dockerfile, or -o FILE) records, for each image,
the reference as written and normalized, the digest, the role and keys that signed it, the
trust server, the version and expiry of the signing metadata, and where the Dockerfile pulls
it.  Build options (--build-arg, --target, --platform) count as for check.  On an existing
lock, entries still signed the same way are kept and the changes are printed (old -> new
digest).  Nothing is written unless every image is trusted.  Use it with
`build --locked`, `pin --locked` and `check --locked`.""",
    (LOCK_OUTPUT, BUILDER_RULES, CONFIG, OFFLINE, DOCKER, VERBOSE), run)
command = COMMAND.click_command()
