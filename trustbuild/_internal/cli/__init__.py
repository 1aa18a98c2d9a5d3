"""The ``trustbuild`` command: one entry point and one table of commands.

Each command lives in its own module, imported only when it runs (or when help lists it).
``trustbuild [docker build options] PATH`` is ``trustbuild build …``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

import click

from trustbuild._version import __version__
from trustbuild.errors import exit_codes_help


@dataclass(frozen=True, slots=True)
class Entry:
    module: str
    summary: str


COMMANDS: dict[str, Entry] = {
    "build": Entry("trustbuild._internal.cli.build",
                   "Build like docker build, only on signed images (the default command)."),
    "check": Entry("trustbuild._internal.cli.check",
                   "The CI gate: verify every image a build would pull; no build."),
    "pin": Entry("trustbuild._internal.cli.pin",
                 "Write the Dockerfile pinned to signed digests."),
    "lock": Entry("trustbuild._internal.cli.lock",
                  "Write the signed digest of every image a build pulls to a lock file."),
    "scan": Entry("trustbuild._internal.cli.scan",
                  "Check every Dockerfile under the given paths in one run (text, JSON, "
                  "SARIF)."),
    "refs": Entry("trustbuild._internal.cli.refs",
                  "List the images a build would pull.  No network."),
    "inspect": Entry("trustbuild._internal.cli.inspect",
                     "Show a repository's signed tags, digests and signing roles."),
    "policy": Entry("trustbuild._internal.cli.policy",
                    "The trust policy: `policy show IMAGE…`."),
    "help": Entry("trustbuild._internal.cli.help", "Show help for a command."),
}
GROUP_OPTIONS = ("-h", "--help", "--version")

class CommandTable(click.Group):
    """Commands looked up in :data:`COMMANDS`; anything else is ``build``'s command line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: click.Command = importlib.import_module(entry.module).command
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in COMMANDS and args[0] not in GROUP_OPTIONS:
            args = ["build", *args]
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in COMMANDS.items()])


@click.group(cls=CommandTable, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="\b\n" + exit_codes_help())
@click.version_option(__version__, "--version", prog_name="trustbuild")
def cli() -> None:
    """Build container images only on base images whose tags are signed.

    trustbuild reads the Dockerfile, finds every image the build will pull, resolves each tag
    to a digest through Docker Content Trust (Notary v1), and runs docker build on a copy of
    the Dockerfile pinned to those digests.  `trustbuild [docker build options] PATH` is
    `trustbuild build …`.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """The console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="trustbuild")
