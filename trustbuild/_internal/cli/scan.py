"""``trustbuild scan [PATH…]``: every Dockerfile in a repository, checked in one run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from trustbuild import api
from trustbuild._internal import output as formats
from trustbuild._internal.cli.base import (
    BUILD_ARG,
    BUILDER_RULES,
    CONFIG,
    DOCKER,
    EXCLUDE,
    OFFLINE,
    SCAN_FORMAT,
    SCAN_OUTPUT,
    VERBOSE,
    Streams,
    click_option,
    configure_logging,
    failing_closed,
    finish,
    json_errors,
    progress,
)
from trustbuild._internal.docker_args import build_args_from
from trustbuild._internal.runner import is_same_file
from trustbuild._internal.scan import ScannedFile
from trustbuild.errors import ExecutionError, UsageError, exit_codes_help


@click.command("scan", cls=json_errors("scan"),
               context_settings={"help_option_names": ["-h", "--help"]},
               epilog="\b\n" + exit_codes_help())
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click_option(SCAN_FORMAT)
@click_option(SCAN_OUTPUT)
@click_option(EXCLUDE, multiple=True)
@click_option(BUILD_ARG, multiple=True)
@click_option(CONFIG)
@click_option(OFFLINE)
@click_option(BUILDER_RULES)
@click_option(DOCKER)
@click_option(VERBOSE)
def command(paths: tuple[str, ...], format: str | None, output: str | None,
            exclude: tuple[str, ...], build_arg: tuple[str, ...], config: str | None,
            offline: bool, builder_rules: str | None, docker: str | None,
            verbose: int) -> None:
    """Check every Dockerfile under each PATH (default: .) in one run.

    Finds Dockerfile, Containerfile, *.Dockerfile, Dockerfile.*, *.Containerfile and
    Containerfile.* (in any case), skipping .git, what --exclude excludes and, in a git
    repository, untracked files that .gitignore or .git/info/exclude ignore; a directory
    that cannot be listed stops the scan.  Checks each as `trustbuild check` would (its
    directory is its build context), resolving every distinct image once.  The exit code is
    the worst of the files'.  `--format sarif -o trustbuild.sarif` writes SARIF 2.1.0 for
    GitHub code scanning or GitLab.
    """
    fmt = format or "text"
    target = output
    configure_logging(verbose)
    with failing_closed("scan", "json" if fmt == "json" else "text", verbose):
        env = dict(os.environ)
        with progress() as shown:
            report = api.scan(list(paths) or ["."], exclude=exclude,
                              build_args=build_args_from(build_arg, env),
                              builder_rules=builder_rules, docker=docker, config=config,
                              offline=offline, env=env, progress=shown)
        if fmt == "text":
            text = formats.scan_text(report)
        else:
            text = formats.to_json(formats.scan_document(report, fmt))
        streams = Streams()
        if target is None or target == "-":
            streams.out(text)
        else:
            _refuse_overwriting_a_scanned_file(target, report.files)
            _write(target, text + "\n")
        if fmt != "text" or target not in (None, "-"):
            where = f"; {fmt} report written to {target}" if target not in (None, "-") else ""
            streams.err(f"trustbuild: {formats.scan_summary(report)}{where}")
    finish(report.exit_code)


def _refuse_overwriting_a_scanned_file(target: str, files: Sequence[ScannedFile]) -> None:
    if not os.path.exists(target):
        return
    for scanned in files:
        if os.path.exists(scanned.dockerfile) and is_same_file(Path(target),
                                                               Path(scanned.dockerfile)):
            raise UsageError(f"refusing to write the report over the scanned Dockerfile "
                             f"{target}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ExecutionError(f"cannot write {path}: {exc.strerror or exc}") from None
