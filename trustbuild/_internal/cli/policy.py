"""``trustbuild policy show IMAGE…``: the effective trust policy per image."""

from __future__ import annotations

import os

import click

from trustbuild._internal import output
from trustbuild._internal.cli.base import Streams, configure_logging, fail, json_errors
from trustbuild.errors import TrustbuildError


@click.group("policy", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """The trust policy (see docs/policy.md)."""


@command.command("show", cls=json_errors("policy show"))
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("--config", "config", metavar="FILE", help="A trust policy file.")
@click.option("--context", "context", default=".", show_default=True, metavar="PATH",
              help="The build context whose .trustbuild.toml applies.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("-v", "--verbose", count=True, help="Explain each decision on standard error.")
def show(images: tuple[str, ...], config: str | None, context: str, fmt: str,
         verbose: int) -> None:
    """Show the effective policy for each image: server, root pin, signers, exceptions, and
    the file that set each."""
    from trustbuild._internal.policy import effective_for, load
    from trustbuild._internal.reference import parse_normalized

    configure_logging(verbose)
    try:
        effective = load(config=config, context=context)
        views = [effective_for(effective, parse_normalized(i).with_default_tag(), os.environ)
                 for i in images]
    except TrustbuildError as exc:
        fail(exc, fmt=fmt, command="policy show", verbose=verbose)
    if fmt == "json":
        Streams().out(output.to_json(output.policy_json(views)))
        return
    Streams().out(output.policy_text(views))
