"""The docker-style commands, ``build`` (the default), ``check`` and ``pin``, and the entry point.

These take docker's own command line, which click would only pass through, so :func:`run`
dispatches them without loading click (about 25 ms of every build's start-up); the other
commands, ``--help`` and ``--version`` go to the click group in ``cli``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from trustbuild._internal.exitcodes import DOCKERFILE as EXIT_DOCKERFILE
from trustbuild._internal.exitcodes import TRUST_ERROR as EXIT_TRUST_ERROR
from trustbuild._internal.exitcodes import USAGE as EXIT_USAGE

if TYPE_CHECKING:
    from trustbuild._internal.docker_args import BuildCommand
    from trustbuild._internal.notary.client import TrustClient
    from trustbuild._internal.plan import CheckReport
    from trustbuild.api import Dockerfile

BUILD_HELP = """Usage: trustbuild [build] [--docker PATH] [--buildx] [docker build options] PATH

  Build like `docker build`, but only on images whose tags are signed.

  Every image the build pulls (FROM, COPY --from, RUN --mount from=, ONBUILD, # syntax=) is
  resolved through Docker Content Trust; the build runs on a copy of the Dockerfile pinned to
  the signed digests.  Any image without acceptable trust data stops everything before docker
  starts.  All docker build options are passed through.

  trustbuild's own options:
    --docker PATH   the docker CLI to run (default: $TRUSTBUILD_DOCKER, else docker)
    --buildx        run `docker buildx build` instead of `docker build`
    --config FILE   a trust policy file (see docs/policy.md)
    --offline       use only the local trust cache, only while nothing in it has expired
"""

CHECK_HELP = """The CI gate: verify every image a build would pull; no build.

Usage: trustbuild check [--format text|json] [--config FILE] [--offline]
                        [docker build options] [PATH]

Exit 0 only when every image is trusted; 4 when one has no acceptable trust data; 5 when
trust could not be established; 3 for a Dockerfile error; 2 for a usage error.
"""

PIN_HELP = """Write the Dockerfile pinned to signed digests.

Usage: trustbuild pin [-o FILE] [--config FILE] [--offline] [docker build options] [PATH]

Prints to standard output, or writes FILE (never the input Dockerfile).  Exits like
`trustbuild check` when an image is not trusted.
"""

OWN_CHECK_FLAGS = {"--docker": True, "--buildx": False, "--offline": False, "--format": True,
                   "--config": True}
OWN_PIN_FLAGS = {"--docker": True, "--buildx": False, "--offline": False, "-o": True,
                 "--output": True, "--config": True}
OWN_BUILD_FLAGS = {"--docker": True, "--buildx": False, "--offline": False,
                   "--config": True}
CLICK_ONLY = ("refs", "inspect", "policy", "-h", "--help", "--version")


def run() -> None:
    """The ``trustbuild`` command."""
    args = sys.argv[1:]
    if not args or args[0] in CLICK_ONLY:
        from trustbuild._internal.cli import main

        main()
        return
    command = DOCKER_STYLE.get(args[0])
    try:
        if command is None:
            build(args)  # `trustbuild [docker build options] PATH` is `trustbuild build …`
        else:
            command(args[1:])
    except SystemExit as done:
        exit_now(done.code)


def exit_now(code: object) -> NoReturn:
    """End the process without the interpreter's teardown, which only frees what the
    operating system frees anyway (about 10 ms, paid on every build); output is flushed
    first, and every file trustbuild writes is complete before a command returns."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: what was written is all there is
        status = status or 1
    os._exit(status)


def echo(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def fail(message: str, code: int) -> NoReturn:
    echo(f"trustbuild: error: {message}", err=True)
    sys.exit(code)


def take_options(args: Sequence[str], flags: dict[str, bool]) -> tuple[dict[str, str], list[str]]:
    """Remove trustbuild's own options (*flags*: name -> takes a value) from a docker command
    line; the rest is left for docker's parser."""
    own: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            rest.extend(args[i:])
            break
        name, eq, value = word.partition("=")
        if name in flags:
            if flags[name] and not eq:
                if i + 1 >= len(args):
                    fail(f"{name} needs a value", EXIT_USAGE)
                value = args[i + 1]
                i += 1
            own[name] = value if flags[name] else "1"
        else:
            rest.append(word)
        i += 1
    return own, rest


def trust_client(offline: bool, config: str | None = None, context: str | None = None
                 ) -> TrustClient:
    """A trust client with the effective policy; a bad policy file is a usage error."""
    from trustbuild.api import trust_client as make_client
    from trustbuild.errors import PolicyError, TrustError

    try:
        return make_client(context, config, offline=offline)
    except PolicyError as exc:
        fail(str(exc), EXIT_USAGE)
    except TrustError as exc:
        fail(str(exc), EXIT_TRUST_ERROR)


def _checked(args: list[str], own: dict[str, str], *, default_context: bool
             ) -> tuple[BuildCommand, CheckReport, Dockerfile]:
    """Parse a docker command line and check it; errors become one line and an exit code."""
    from trustbuild import api
    from trustbuild._internal.builder_detection import builder_of, detect_reader
    from trustbuild._internal.docker_args import parse as parse_docker_args
    from trustbuild._internal.runner import docker_binary
    from trustbuild.errors import DockerfileError, TrustError, UsageError

    try:
        try:
            cmd = parse_docker_args(args)
        except UsageError:
            if not default_context:
                raise
            cmd = parse_docker_args([*args, "."])
        env = dict(os.environ)
        choice = detect_reader(docker_binary(own.get("--docker"), env), env,
                               buildx="--buildx" in own, building=False)
        client = trust_client("--offline" in own, own.get("--config"), cmd.context)
        source, report = api.check_command(cmd, builder_of(choice), client, env,
                                           reader=choice.reader)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    except DockerfileError as exc:
        fail(str(exc), EXIT_DOCKERFILE)
    except TrustError as exc:
        fail(str(exc), EXIT_TRUST_ERROR)
    return cmd, report, source


def check(args: Sequence[str]) -> NoReturn:
    if "--help" in args or "-h" in args:
        echo(CHECK_HELP)
        sys.exit(0)
    own, rest = take_options(args, OWN_CHECK_FLAGS)
    fmt = own.get("--format", "text")
    if fmt not in ("text", "json"):
        fail(f"--format must be text or json, not {fmt!r}", EXIT_USAGE)
    _, report, _ = _checked(rest, own, default_context=True)
    from trustbuild._internal.exitcodes import for_report

    if fmt == "json":
        echo(json.dumps(report.to_json(), indent=2))
    else:
        print_check(report)
    sys.exit(for_report(report))


def print_check(report: CheckReport) -> None:
    from trustbuild.api import describe

    for verdict in report.verdicts:
        echo(describe(verdict, report.mode).removeprefix("trustbuild: "))
    trusted = sum(1 for v in report.verdicts if v.trusted)
    allowed = f", {len(report.allowed)} allowed by policy" if report.allowed else ""
    warn = "; warn mode: nothing enforced" if report.mode == "warn" else ""
    echo(f"{report.dockerfile}: {trusted} of {len(report.verdicts)} images trusted"
         f"{allowed} ({report.builder.value} builder{warn})")


def pin(args: Sequence[str]) -> NoReturn:
    if "--help" in args or "-h" in args:
        echo(PIN_HELP)
        sys.exit(0)
    own, rest = take_options(args, OWN_PIN_FLAGS)
    output = own.get("-o") or own.get("--output")
    _, report, source = _checked(rest, own, default_context=True)
    from trustbuild._internal.exitcodes import for_report

    if not report.passes:
        print_check(report)
        sys.exit(for_report(report))
    from trustbuild._internal.runner import is_same_file
    from trustbuild.errors import PinError

    try:
        text = report.pinned().text
    except PinError as exc:
        fail(str(exc), EXIT_DOCKERFILE)
    if output is None or output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        sys.stdout.flush()
        sys.exit(0)
    target = Path(output)
    if source.path is not None and target.exists() and is_same_file(target, source.path):
        fail(f"refusing to write the pinned Dockerfile over its input {output}", EXIT_USAGE)
    try:
        target.write_bytes(text.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE)
    sys.exit(0)


def build(args: Sequence[str]) -> NoReturn:
    """Build like docker build, only on signed images."""
    if tuple(args) in (("--help",), ("-h",)):
        echo(BUILD_HELP)
        sys.exit(0)
    from trustbuild import api
    from trustbuild.errors import DockerfileError, PinError, PolicyError, TrustError, UsageError

    own, rest = take_options(args, OWN_BUILD_FLAGS)
    try:
        result = api.build(rest, docker=own.get("--docker"), buildx="--buildx" in own,
                           config=own.get("--config"), offline="--offline" in own)
    except (UsageError, PolicyError) as exc:
        fail(str(exc), EXIT_USAGE)
    except (DockerfileError, PinError) as exc:
        fail(str(exc), EXIT_DOCKERFILE)
    except TrustError as exc:
        fail(str(exc), EXIT_TRUST_ERROR)
    sys.exit(result.exit_code)


DOCKER_STYLE: dict[str, Callable[[Sequence[str]], NoReturn]] = {
    "build": build, "check": check, "pin": pin}
