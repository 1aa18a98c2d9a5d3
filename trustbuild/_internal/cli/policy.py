"""``trustbuild policy show IMAGE…``: the effective trust policy per image."""

from __future__ import annotations

import os

import click

from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    CONFIG,
    FORMAT,
    VERBOSE,
    Streams,
    click_option,
    configure_logging,
    failing_closed,
    json_errors,
)


@click.group("policy", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """The trust policy (see docs/policy.md)."""


@command.command("show", cls=json_errors("policy show"))
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click_option(CONFIG)
@click.option("--context", "context", default=".", show_default=True, metavar="PATH",
              type=click.Path(exists=True, file_okay=False),
              help="The build context whose .trustbuild.toml applies.")
@click_option(FORMAT)
@click_option(VERBOSE)
def show(images: tuple[str, ...], config: str | None, context: str, format: str | None,
         verbose: int) -> None:
    """Show the effective policy for each image: server, root pin, signers, exceptions, and
    the file that set each."""
    from trustbuild._internal.policy import effective_for, load
    from trustbuild._internal.reference import parse_normalized

    fmt = format or "text"
    configure_logging(verbose)
    with failing_closed("policy show", fmt, verbose):
        effective = load(config=config, context=context)
        views = [effective_for(effective, parse_normalized(i).with_default_tag(), os.environ)
                 for i in images]
        Streams().out(output.to_json(output.policy_json(views)) if fmt == "json"
                      else output.policy_text(views))
