"""What every command shares: trustbuild's own flags, help text made from them, logging for
``-v``, the streams, and one way to turn an error into a message and an exit code.

Streams: results go to standard output, diagnostics to standard error.  With
``--format json`` standard output always holds exactly one JSON document, errors included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

import click

from trustbuild._internal import output
from trustbuild._internal.docker_args import BuildCommand, OwnFlag
from trustbuild._internal.docker_args import parse as parse_docker_args
from trustbuild._internal.output import INTERNAL_ERROR
from trustbuild.errors import TrustbuildError, UsageError, exit_codes_help

VERBOSE = OwnFlag("verbose", False, "explain each decision on standard error (-vv: more)",
                  short="v")
FORMAT = OwnFlag("format", True, "text (default) or json", metavar="FORMAT",
                 choices=("text", "json"))
CONFIG = OwnFlag("config", True, "a trust policy file (docs/policy.md)", metavar="FILE")
OFFLINE = OwnFlag("offline", False, "use only the local trust cache, and only while nothing "
                  "in it has expired")
DOCKER = OwnFlag("docker", True, "the docker CLI (default: $TRUSTBUILD_DOCKER, else docker)",
                 metavar="PATH")
BUILDX = OwnFlag("buildx", False, "run `docker buildx build` instead of `docker build`")
OUTPUT = OwnFlag("output", True, "write FILE instead of standard output", short="o",
                 metavar="FILE")
HELP = OwnFlag("help", False, "show this help", short="h")
BUILDER_RULES = OwnFlag("builder-rules", True, "read the Dockerfile as this builder does, "
                        "without asking docker: buildkit (current), buildkit-0.N (docker "
                        "20.10: buildkit-0.8), classic, unknown (every BuildKit)",
                        metavar="RULES")
LOCKED = OwnFlag("locked", False, "use the digests in the lock file (trustbuild.lock.json "
                 "beside the Dockerfile), each confirmed first against trust data (offline: "
                 "the verified trust cache)")
LOCK_FILE = OwnFlag("lock-file", True, "the lock file for --locked (implies --locked)",
                    metavar="FILE")
SCAN_FORMAT = OwnFlag("format", True, "text (default), json, sarif (SARIF 2.1.0) or "
                     "codequality (GitLab)", metavar="FORMAT",
                     choices=("text", "json", "sarif", "codequality"))
SCAN_OUTPUT = OwnFlag("output", True, "write the report to FILE instead of standard output",
                      short="o", metavar="FILE")
EXCLUDE = OwnFlag("exclude", True, "skip what GLOB matches (gitignore syntax, relative to each "
                  "PATH; repeatable); in a git repository, untracked files .gitignore "
                  "ignores are skipped too", metavar="GLOB")
BUILD_ARG = OwnFlag("build-arg", True, "set a build arg in every Dockerfile (repeatable); "
                    "otherwise ARG defaults apply", metavar="KEY=VALUE")
LOCK_OUTPUT = OwnFlag("output", True, "write the lock to FILE (default: trustbuild.lock.json "
                      "beside the Dockerfile)", short="o", metavar="FILE")

RAW_ARGS = {"ignore_unknown_options": True, "allow_extra_args": True,
            "help_option_names": []}


class Streams:
    """Where a command writes: results on stdout, diagnostics on stderr."""

    def out(self, text: str) -> None:
        click.echo(text)

    def err(self, text: str) -> None:
        click.echo(text, err=True)

    def error(self, message: str) -> None:
        self.err(f"trustbuild: error: {message}")


class TerminalProgress:
    """When trust resolution takes longer than *delay* seconds and standard error is a
    terminal, one line there, redrawn: images resolved of all, and the trust servers being
    waited on.  Cleared when the work ends.  Never on a pipe, never in JSON."""

    def __init__(self, delay: float = 1.0, interval: float = 0.25) -> None:
        self._delay, self._interval = delay, interval
        self._state: tuple[int, int, Sequence[str]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="trustbuild-progress")
        self._shown = False
        self._started = 0.0

    @staticmethod
    def wanted() -> bool:
        return sys.stderr.isatty()

    def update(self, done: int, total: int, waiting: Sequence[str]) -> None:
        self._state = (done, total, tuple(waiting))

    def __enter__(self) -> TerminalProgress:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._clear()

    def _clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._shown = False

    def _run(self) -> None:
        if self._stop.wait(self._delay):
            return
        while not self._stop.is_set():
            state = self._state
            if state is not None and state[0] >= state[1]:
                self._clear()  # resolved: whatever comes next (docker) has the line
            elif state is not None:
                done, total, waiting = state
                elapsed = time.monotonic() - self._started
                line = f"trustbuild: resolving images {done}/{total} ({elapsed:.0f} s)"
                if waiting:
                    line += f"; waiting for {', '.join(waiting[:3])}"
                    line += " …" if len(waiting) > 3 else ""
                width = shutil.get_terminal_size().columns
                sys.stderr.write("\r\033[K" + line[:max(20, width - 1)])
                sys.stderr.flush()
                self._shown = True
            self._stop.wait(self._interval)


def progress() -> contextlib.AbstractContextManager[TerminalProgress | None]:
    """A :class:`TerminalProgress` for the command's trust client, when stderr is a
    terminal; otherwise nothing."""
    if TerminalProgress.wanted():
        return TerminalProgress()
    return contextlib.nullcontext()


def configure_logging(verbosity: int) -> None:
    """``-v``: INFO from trustbuild's loggers on standard error; ``-vv``: DEBUG.  Warnings
    are always shown."""
    logger = logging.getLogger("trustbuild")
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else
                    logging.WARNING)
    if not any(getattr(h, "trustbuild", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.trustbuild = True  # type: ignore[attr-defined]
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
    logger.propagate = False


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "trustbuild: " if record.levelno <= logging.INFO else \
            f"trustbuild: {record.levelname.lower()}: "
        return prefix + record.getMessage()


def finish(code: int) -> NoReturn:
    sys.exit(int(code))


@contextlib.contextmanager
def failing_closed(command: str, fmt: str, verbose: int) -> Iterator[None]:
    """Any error inside becomes :func:`fail`'s one line and exit code: a trustbuild error
    its own code, anything else (a bug) exit 70, never a traceback."""
    try:
        yield
    except Exception as exc:  # fail() tells trustbuild's errors from bugs
        fail(exc, fmt=fmt, command=command, verbose=verbose)


def fail(error: BaseException, *, fmt: str = "text", command: str = "",
         verbose: int = 0) -> NoReturn:
    """An error as one line on standard error (and, for JSON, as the document on standard
    output); the exit code its class carries."""
    streams = Streams()
    if isinstance(error, TrustbuildError):
        code = int(error.exit_code)
        streams.error(str(error))
    else:
        code = INTERNAL_ERROR
        if verbose:
            traceback.print_exception(error, file=sys.stderr)
        streams.error(f"internal error: {type(error).__name__}: {error} (this is a bug in "
                      "trustbuild; run with -v for the traceback and report it)")
    if fmt == "json":
        document = output.error_json(error, command)
        streams.out(output.to_json(document))
    finish(code)


class _AsWritten(click.Command):
    """A command whose help (``trustbuild help NAME``) is printed as written, not rewrapped
    by click: its flag table is laid out already."""

    def get_help(self, ctx: click.Context) -> str:
        return self.help or ""


@dataclass(frozen=True, slots=True)
class DockerStyle:
    """A command that takes docker build's command line plus trustbuild's own flags, read
    by one parser (``docker_args.parse``)."""

    name: str
    usage: str
    description: str
    own: tuple[OwnFlag, ...]
    run: Callable[[BuildCommand, Mapping[str, str]], int]
    context_optional: bool = True

    def help_text(self) -> str:
        width = max(len(f.usage) for f in self.own) + 2
        flags = "\n".join(f"  {f.usage:<{width}}{f.help}" for f in self.own)
        return (f"Usage: {self.usage}\n\n{self.description}\n\ntrustbuild's options (every "
                f"other option is docker build's):\n{flags}\n\n{exit_codes_help()}")

    def click_command(self) -> click.Command:
        summary = self.description.split("\n\n")[0].replace("\n", " ")

        @click.command(self.name, cls=_AsWritten, context_settings=RAW_ARGS,
                       add_help_option=False, help=self.help_text(), short_help=summary)
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def command(args: tuple[str, ...]) -> None:
            self.main(args)

        return command

    def main(self, args: Sequence[str]) -> NoReturn:
        fmt = "text"
        verbose = 0
        try:
            cmd = parse_docker_args(args, (*self.own, HELP), context_optional=True)
            fmt = cmd.own_value("format") or "text"
            verbose = cmd.own_count("verbose")
            if cmd.has_own("help"):
                Streams().out(self.help_text())
                finish(0)
            if cmd.context_index is None and not self.context_optional:
                raise UsageError(f'"trustbuild {self.name}" requires exactly 1 argument (the '
                                 "build context), got 0")
            configure_logging(verbose)
            code = self.run(cmd, dict(os.environ))
        except TrustbuildError as exc:
            fail(exc, fmt=_json_if_asked(args, fmt), command=self.name, verbose=verbose)
        except KeyboardInterrupt:
            Streams().err("trustbuild: interrupted")
            finish(130)
        except Exception as exc:  # a bug: say so, fail closed
            fail(exc, fmt=_json_if_asked(args, fmt), command=self.name, verbose=verbose)
        finish(code)


class JsonErrorsCommand(click.Command):
    """A click command whose command-line errors (an unknown option, a missing argument)
    keep ``--format json``'s promise: the error document on standard output, as well as
    click's message on standard error."""

    json_name = ""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        words = list(args)  # click's parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if _json_if_asked(words, "") == "json":
                error = UsageError(exc.format_message())
                Streams().out(output.to_json(output.error_json(
                    error, self.json_name or self.name or "")))
            raise


def json_errors(name: str) -> type[JsonErrorsCommand]:
    """:class:`JsonErrorsCommand` for the command called *name* in its JSON documents."""
    return type("JsonErrorsCommand", (JsonErrorsCommand,), {"json_name": name})


def click_option(flag: OwnFlag, *, multiple: bool = False
                 ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """*flag* as an option of a click command (commands that do not take docker's command
    line, such as ``scan``), with the same names and help as everywhere else."""
    names = [*([f"-{flag.short}"] if flag.short else []), f"--{flag.name}"]
    dest = flag.name.replace("-", "_")
    if not flag.takes_value:
        if flag.short == "v":
            return click.option(*names, dest, count=True, help=flag.help)
        return click.option(*names, dest, is_flag=True, help=flag.help)
    return click.option(*names, dest, metavar=flag.metavar or None, multiple=multiple,
                        type=click.Choice(flag.choices) if flag.choices else None,
                        help=flag.help)


def locked_option(cmd: BuildCommand) -> bool | str:
    """``--locked`` / ``--lock-file FILE``, as the library takes them."""
    lock_file = cmd.own_value("lock-file")
    if lock_file:
        return lock_file
    return cmd.has_own("locked")


def _json_if_asked(args: Sequence[str], parsed: str) -> str:
    """The format asked for, even when the command line itself could not be read."""
    if parsed == "json":
        return parsed
    for i, word in enumerate(args):
        if word == "--format=json" or (word == "--format" and list(args[i + 1:i + 2]) == ["json"]):
            return "json"
    return "text"
