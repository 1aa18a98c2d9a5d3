"""The ``trustbuild`` command line.

Only click is imported at start-up; each command imports what it needs, so ``--version`` and
``--help`` stay light.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from trustbuild import __version__

if TYPE_CHECKING:
    from trustbuild.api import Dockerfile
    from trustbuild.docker_args import BuildCommand
    from trustbuild.dockerfile import BuildOptions, ImagePull
    from trustbuild.notary.client import TrustClient
    from trustbuild.notary.inspection import RepositoryReport
    from trustbuild.plan import CheckReport

from trustbuild.exitcodes import DOCKERFILE as EXIT_DOCKERFILE
from trustbuild.exitcodes import OK as EXIT_OK
from trustbuild.exitcodes import TRUST_ERROR as EXIT_TRUST_ERROR
from trustbuild.exitcodes import UNTRUSTED as EXIT_UNTRUSTED
from trustbuild.exitcodes import USAGE as EXIT_USAGE

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


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"trustbuild: error: {message}", err=True)
    sys.exit(code)


class _DefaultToBuild(click.Group):
    """``trustbuild [docker build options] PATH`` means ``trustbuild build …``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help",
                                                                     "--version"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToBuild, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="trustbuild")
def main() -> None:
    """Build container images only on base images whose tags are signed.

    trustbuild reads the Dockerfile, finds every image the build will pull, resolves each tag
    to a digest through Docker Content Trust (Notary v1), and runs docker build on a copy of
    the Dockerfile pinned to those digests.  `trustbuild [docker build options] PATH` is
    `trustbuild build …`.

    Exit codes: 0 success; docker's own status when docker fails; 2 usage error; 3 Dockerfile
    error; 4 an image has no acceptable trust data; 5 trust could not be established.
    """


def builder_from_env() -> str:
    """For ``refs``, which runs no docker: DOCKER_BUILDKIT as docker reads it, else BuildKit."""
    from trustbuild.docker_args import UsageError
    from trustbuild.runner import parse_bool

    value = os.environ.get("DOCKER_BUILDKIT", "")
    try:
        return "buildkit" if not value or parse_bool(value, "DOCKER_BUILDKIT") else "classic"
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)


def build_options(build_args: Sequence[str], target: str | None, platform: str | None,
                  builder: str) -> BuildOptions:
    from trustbuild.api import build_args_from
    from trustbuild.docker_args import UsageError
    from trustbuild.dockerfile import Builder, BuildOptions

    platforms = [p.strip() for p in platform.split(",")] if platform else []
    try:
        args = build_args_from(build_args, os.environ)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    return BuildOptions(build_args=args, target=target, platforms=platforms,
                        builder=Builder(builder))


def _format_pull(pull: ImagePull) -> str:
    where = f"{pull.line}:{pull.column}" if pull.line else "-"
    stage = pull.stage if pull.stage is not None else "-"
    written = f"  (written {pull.written!r})" if pull.written != str(pull.reference) else ""
    return (f"{where:<8} {pull.instruction:<18} stage={stage:<12} {pull.platform or '-':<14} "
            f"{pull.reference}{written}")


@main.command()
@click.option("-f", "--file", "file", metavar="FILE",
              help="Dockerfile (default: PATH/Dockerfile; - reads standard input).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY[=VALUE]",
              help="Build-time variable, as for docker build (repeatable).")
@click.option("--target", metavar="STAGE", help="Build stage to stop at.")
@click.option("--platform", metavar="OS/ARCH[,…]", help="Target platform(s).")
@click.option("--builder", type=click.Choice(["buildkit", "classic"]), default=None,
              help="Which builder's rules to apply (default: from DOCKER_BUILDKIT).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.argument("path", default=".", required=False)
def refs(file: str | None, build_args: tuple[str, ...], target: str | None,
         platform: str | None, builder: str | None, fmt: str, path: str) -> None:
    """List the images this build would pull.  No network.

    Follows BuildKit's rules: global ARGs and --build-arg in FROM, stage names, --target
    pruning, COPY --from, RUN --mount from=, ONBUILD triggers and the # syntax= frontend.
    """
    from trustbuild.api import read_dockerfile
    from trustbuild.docker_args import UsageError
    from trustbuild.dockerfile import analyse
    from trustbuild.errors import DockerfileError

    try:
        source = read_dockerfile(path, file)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    options = build_options(build_args, target, platform, builder or builder_from_env())
    try:
        analysis = analyse(source.text, options)
    except DockerfileError as exc:
        exc.path = source.display
        fail(str(exc), EXIT_DOCKERFILE)
    if fmt == "json":
        click.echo(json.dumps([p.to_json() for p in analysis.pulls], indent=2))
        return
    for pull in analysis.pulls:
        click.echo(_format_pull(pull))
    for warning in analysis.warnings:
        click.echo(f"warning: {warning}", err=True)


def _print_report(report: RepositoryReport) -> None:
    click.echo(f"\nSignatures for {report.name}  (trust server {report.server})\n")
    click.echo(f"{'SIGNED TAG':<20} {'DIGEST':<71} {'SIGNERS'}")
    for sig in sorted(report.signatures, key=lambda s: (s.tag, s.role)):
        accepted = report.accepted.get(sig.tag)
        mark = " (used)" if accepted and accepted.digest == sig.digest \
            and accepted.role == sig.role else ""
        click.echo(f"{sig.tag:<20} {sig.digest:<71} {sig.signer} [{sig.role}]{mark}")
    if not report.signatures:
        click.echo("(no signed tags)")
    if report.signers:
        click.echo(f"\nList of signers and their keys for {report.name}\n")
        for name, keys in sorted(report.signers.items()):
            click.echo(f"{name:<20} {', '.join(k[:12] for k in keys) or '(no keys)'}")
    click.echo(f"\nAdministrative keys for {report.name}\n")
    click.echo(f"  Repository Key:\t{', '.join(report.repository_keys)}")
    click.echo(f"  Root Key:\t{', '.join(report.root_keys)}")
    for role, problem in sorted(report.problems.items()):
        click.echo(f"  warning: {role} not read: {problem}", err=True)


@main.command()
@click.argument("images", nargs=-1, required=True, metavar="IMAGE[:TAG]...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--offline", is_flag=True,
              help="Use only the local trust cache, and only while none of it has expired.")
@click.option("--config", "config", metavar="FILE", help="A trust policy file.")
def inspect(images: tuple[str, ...], fmt: str, offline: bool, config: str | None) -> None:
    """Show the signed tags of each repository, with digests and signing roles.

    Like `docker trust inspect`: the trust server is DOCKER_CONTENT_TRUST_SERVER, or the
    registry's own host, and metadata is cached under $DOCKER_CONFIG/trust.
    """
    from trustbuild.errors import InvalidReferenceError
    from trustbuild.notary.errors import NoTrustData, TrustError

    client = _client(offline, config, ".")
    reports = []
    code = EXIT_OK
    for image in images:
        try:
            reports.append(client.inspect(image))
        except InvalidReferenceError as exc:
            fail(str(exc), EXIT_USAGE)
        except NoTrustData as exc:
            click.echo(f"trustbuild: {image}: {exc}", err=True)
            code = max(code, EXIT_UNTRUSTED)
        except TrustError as exc:
            click.echo(f"trustbuild: {image}: {exc}", err=True)
            code = EXIT_TRUST_ERROR
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        for report in reports:
            _print_report(report)
    sys.exit(code)


RAW = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


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


def _client(offline: bool, config: str | None = None, context: str | None = None
            ) -> TrustClient:
    """A trust client with the effective policy; a bad policy file is a usage error."""
    from trustbuild.api import trust_client
    from trustbuild.policy import PolicyError

    try:
        return trust_client(context, config, offline=offline)
    except PolicyError as exc:
        fail(str(exc), EXIT_USAGE)


def _checked(args: list[str], own: dict[str, str], *, default_context: bool
             ) -> tuple[BuildCommand, CheckReport, Dockerfile]:
    """Parse a docker command line and check it; errors become one line and an exit code."""
    from trustbuild import api
    from trustbuild.docker_args import UsageError
    from trustbuild.docker_args import parse as parse_docker_args
    from trustbuild.errors import DockerfileError
    from trustbuild.notary.errors import TrustError
    from trustbuild.runner import choose_builder, docker_binary

    try:
        try:
            cmd = parse_docker_args(args)
        except UsageError:
            if not default_context:
                raise
            cmd = parse_docker_args([*args, "."])
        env = dict(os.environ)
        builder = choose_builder(docker_binary(own.get("--docker"), env), env,
                                 buildx="--buildx" in own, building=False)
        client = _client("--offline" in own, own.get("--config"), cmd.context)
        source, report = api.check_command(cmd, builder, client, env)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    except DockerfileError as exc:
        fail(str(exc), EXIT_DOCKERFILE)
    except TrustError as exc:
        fail(str(exc), EXIT_TRUST_ERROR)
    return cmd, report, source


OWN_CHECK_FLAGS = {"--docker": True, "--buildx": False, "--offline": False, "--format": True,
                   "--config": True}


@main.command(context_settings=RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def check(args: tuple[str, ...]) -> None:
    """The CI gate: verify every image a build would pull; no build.

    Usage: trustbuild check [--format text|json] [--config FILE] [--offline]
                            [docker build options] [PATH]

    Exit 0 only when every image is trusted; 4 when one has no acceptable trust data; 5 when
    trust could not be established; 3 for a Dockerfile error; 2 for a usage error.
    """
    if "--help" in args or "-h" in args:
        click.echo(check.help)
        return
    own, rest = take_options(args, OWN_CHECK_FLAGS)
    fmt = own.get("--format", "text")
    if fmt not in ("text", "json"):
        fail(f"--format must be text or json, not {fmt!r}", EXIT_USAGE)
    _, report, _ = _checked(rest, own, default_context=True)
    from trustbuild.exitcodes import for_report

    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_check(report)
    sys.exit(for_report(report))


def _print_check(report: CheckReport) -> None:
    from trustbuild.api import describe

    for verdict in report.verdicts:
        click.echo(describe(verdict, report.mode).removeprefix("trustbuild: "))
    trusted = sum(1 for v in report.verdicts if v.trusted)
    allowed = f", {len(report.allowed)} allowed by policy" if report.allowed else ""
    warn = "; warn mode: nothing enforced" if report.mode == "warn" else ""
    click.echo(f"{report.dockerfile}: {trusted} of {len(report.verdicts)} images trusted"
               f"{allowed} ({report.builder.value} builder{warn})")


OWN_PIN_FLAGS = {"--docker": True, "--buildx": False, "--offline": False, "-o": True,
                 "--output": True, "--config": True}


@main.command(context_settings=RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def pin(args: tuple[str, ...]) -> None:
    """Write the Dockerfile pinned to signed digests.

    Usage: trustbuild pin [-o FILE] [--config FILE] [--offline] [docker build options] [PATH]

    Prints to standard output, or writes FILE (never the input Dockerfile).  Exits like
    `trustbuild check` when an image is not trusted.
    """
    if "--help" in args or "-h" in args:
        click.echo(pin.help)
        return
    own, rest = take_options(args, OWN_PIN_FLAGS)
    output = own.get("-o") or own.get("--output")
    _, report, source = _checked(rest, own, default_context=True)
    from trustbuild.exitcodes import for_report

    if not report.passes:
        _print_check(report)
        sys.exit(for_report(report))
    from trustbuild.errors import PinError
    from trustbuild.runner import is_same_file

    try:
        text = report.pinned().text
    except PinError as exc:
        fail(str(exc), EXIT_DOCKERFILE)
    if output is None or output == "-":
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        return
    target = Path(output)
    if source.path is not None and target.exists() and is_same_file(target, source.path):
        fail(f"refusing to write the pinned Dockerfile over its input {output}", EXIT_USAGE)
    try:
        target.write_bytes(text.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE)


OWN_BUILD_FLAGS = {"--docker": True, "--buildx": False, "--offline": False,
                   "--config": True}


@main.command(context_settings=RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def build(args: tuple[str, ...]) -> None:
    """Build like docker build, only on signed images (see `trustbuild build --help`)."""
    if args in (("--help",), ("-h",)):
        click.echo(BUILD_HELP)
        return
    from trustbuild import api
    from trustbuild.docker_args import UsageError
    from trustbuild.errors import DockerfileError, PinError
    from trustbuild.notary.errors import TrustError
    from trustbuild.policy import PolicyError

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


@main.group()
def policy() -> None:
    """The trust policy (see docs/policy.md)."""


@policy.command("show")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("--config", "config", metavar="FILE", help="A trust policy file.")
@click.option("--context", "context", default=".", show_default=True, metavar="PATH",
              help="The build context whose .trustbuild.toml applies.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def policy_show(images: tuple[str, ...], config: str | None, context: str, fmt: str) -> None:
    """Show the effective policy for each image: server, root pin, signers, exceptions, and
    the file that set each."""
    from trustbuild.errors import InvalidReferenceError
    from trustbuild.policy import PolicyError, describe_for, load
    from trustbuild.reference import parse_normalized

    try:
        effective = load(config=config, context=context)
        rows = [describe_for(effective, parse_normalized(i).with_default_tag(), os.environ)
                for i in images]
    except (PolicyError, InvalidReferenceError) as exc:
        fail(str(exc), EXIT_USAGE)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['image']}")
        for key, value in row.items():
            if key != "image":
                click.echo(f"  {key:<12} {value}")
