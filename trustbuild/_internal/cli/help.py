"""``trustbuild help [COMMAND]``."""

from __future__ import annotations

import click

from trustbuild._internal.cli.base import Streams, finish
from trustbuild.errors import UsageError


@click.command("help")
@click.argument("name", required=False, metavar="[COMMAND]")
@click.pass_context
def command(ctx: click.Context, name: str | None) -> None:
    """Show help for trustbuild, or for one command."""
    group = ctx.parent.command if ctx.parent else None
    if name is None or group is None:
        Streams().out(ctx.parent.get_help() if ctx.parent else ctx.get_help())
        finish(0)
    assert isinstance(group, click.Group)
    sub = group.get_command(ctx, name)
    if sub is None:
        Streams().err(f"trustbuild: error: {UsageError(f'no such command: {name}')}")
        finish(2)
    with click.Context(sub, info_name=name, parent=ctx.parent) as sub_ctx:
        Streams().out(sub.get_help(sub_ctx))
    finish(0)
