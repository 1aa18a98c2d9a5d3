"""The ``trustbuild`` command line as a click group.

``build``, ``check`` and ``pin`` live in ``commands`` (which also dispatches them without
click); this module adds ``refs``, ``inspect`` and ``policy show``, ``--help`` and
``--version``.  Each command imports what it needs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from trustbuild import __version__

if TYPE_CHECKING:
    from trustbuild._internal.dockerfile import BuildOptions, ImagePull
    from trustbuild._internal.notary.inspection import RepositoryReport

from trustbuild._internal import commands
from trustbuild._internal.commands import fail
from trustbuild._internal.exitcodes import DOCKERFILE as EXIT_DOCKERFILE
from trustbuild._internal.exitcodes import OK as EXIT_OK
from trustbuild._internal.exitcodes import TRUST_ERROR as EXIT_TRUST_ERROR
from trustbuild._internal.exitcodes import UNTRUSTED as EXIT_UNTRUSTED
from trustbuild._internal.exitcodes import USAGE as EXIT_USAGE


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
    from trustbuild._internal.runner import parse_bool
    from trustbuild.errors import UsageError

    value = os.environ.get("DOCKER_BUILDKIT", "")
    try:
        return "buildkit" if not value or parse_bool(value, "DOCKER_BUILDKIT") else "classic"
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)


def build_options(build_args: Sequence[str], target: str | None, platform: str | None,
                  builder: str) -> BuildOptions:
    from trustbuild._internal.dockerfile import Builder, BuildOptions
    from trustbuild.api import build_args_from
    from trustbuild.errors import UsageError

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
@click.option("--builder-rules", "builder_rules", metavar="RULES", default=None,
              help="Read the file as this reader does: buildkit (current), buildkit-0.N "
                   "(e.g. buildkit-0.8, docker 20.10), classic, unknown (every BuildKit).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.argument("path", default=".", required=False)
def refs(file: str | None, build_args: tuple[str, ...], target: str | None,
         platform: str | None, builder: str | None, builder_rules: str | None, fmt: str,
         path: str) -> None:
    """List the images this build would pull.  No network.

    Follows BuildKit's rules: global ARGs and --build-arg in FROM, stage names, --target
    pruning, COPY --from, RUN --mount from=, ONBUILD triggers and the # syntax= frontend.
    """
    from trustbuild._internal.dockerfile import analyse
    from trustbuild.api import read_dockerfile
    from trustbuild.errors import DockerfileError, UsageError

    try:
        source = read_dockerfile(path, file)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    options = build_options(build_args, target, platform, builder or builder_from_env())
    if builder_rules is not None:
        from dataclasses import replace

        from trustbuild._internal.dockerfile.readers import reader_named

        try:
            options = replace(options, reader=reader_named(builder_rules))
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)
    try:
        analysis = analyse(source.text, options, path=source.display)
    except DockerfileError as exc:
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
    from trustbuild.errors import InvalidReferenceError, NoTrustData, TrustError

    client = commands.trust_client(offline, config, ".")
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


@main.command(context_settings=RAW, add_help_option=False, help=commands.CHECK_HELP)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def check(args: tuple[str, ...]) -> None:
    commands.check(args)


@main.command(context_settings=RAW, add_help_option=False, help=commands.PIN_HELP)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def pin(args: tuple[str, ...]) -> None:
    commands.pin(args)


@main.command(context_settings=RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def build(args: tuple[str, ...]) -> None:
    """Build like docker build, only on signed images (see `trustbuild build --help`)."""
    commands.build(args)


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
    from trustbuild._internal.policy import describe_for, load
    from trustbuild._internal.reference import parse_normalized
    from trustbuild.errors import InvalidReferenceError, PolicyError

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
