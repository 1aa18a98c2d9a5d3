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
    from trustbuild.dockerfile import BuildOptions, ImagePull
    from trustbuild.notary.inspection import RepositoryReport

# Exit codes (docs/guide.md lists them).
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_DOCKERFILE = 3
EXIT_UNTRUSTED = 4
EXIT_TRUST_ERROR = 5


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"trustbuild: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="trustbuild")
def main() -> None:
    """Build container images only on base images whose tags are signed.

    trustbuild reads the Dockerfile, finds every image the build will pull, resolves each tag
    to a digest through Docker Content Trust (Notary v1), and runs docker build on a copy of
    the Dockerfile pinned to those digests.
    """


def builder_from_env() -> str:
    value = os.environ.get("DOCKER_BUILDKIT", "").strip().lower()
    return "classic" if value in ("0", "false", "f", "no", "off") else "buildkit"


def parse_build_args(pairs: Sequence[str]) -> dict[str, str]:
    """docker's ``--build-arg K=V``; a bare ``K`` takes the environment's value, if any."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not key:
            fail(f"invalid --build-arg {pair!r}: expected KEY=VALUE", EXIT_USAGE)
        if eq:
            args[key] = value
        elif key in os.environ:
            args[key] = os.environ[key]
    return args


def read_dockerfile(context: str, file: str | None) -> tuple[str, str]:
    """The Dockerfile's text (bytes kept with surrogateescape) and its display name."""
    if file == "-":
        return sys.stdin.buffer.read().decode("utf-8", "surrogateescape"), "<stdin>"
    path = Path(file) if file else Path(context) / "Dockerfile"
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read Dockerfile {str(path)!r}: {exc.strerror or exc}", EXIT_USAGE)
    return data.decode("utf-8", "surrogateescape"), str(path)


def build_options(build_args: Sequence[str], target: str | None, platform: str | None,
                  builder: str) -> BuildOptions:
    from trustbuild.dockerfile import Builder, BuildOptions

    platforms = [p.strip() for p in platform.split(",")] if platform else []
    return BuildOptions(build_args=parse_build_args(build_args), target=target,
                        platforms=platforms, builder=Builder(builder))


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
    from trustbuild.dockerfile import analyse
    from trustbuild.errors import DockerfileError

    text, name = read_dockerfile(path, file)
    options = build_options(build_args, target, platform, builder or builder_from_env())
    try:
        analysis = analyse(text, options)
    except DockerfileError as exc:
        exc.path = name
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
def inspect(images: tuple[str, ...], fmt: str, offline: bool) -> None:
    """Show the signed tags of each repository, with digests and signing roles.

    Like `docker trust inspect`: the trust server is DOCKER_CONTENT_TRUST_SERVER, or the
    registry's own host, and metadata is cached under $DOCKER_CONFIG/trust.
    """
    from trustbuild.notary.client import TrustClient
    from trustbuild.notary.errors import NoTrustData, TrustError

    client = TrustClient(offline=offline)
    reports = []
    code = EXIT_OK
    for image in images:
        try:
            reports.append(client.inspect(image))
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
