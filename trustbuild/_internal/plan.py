"""The check: every image a build pulls, each resolved through trust data, with a verdict.

This joins the Dockerfile front end and the trust client; ``check``, ``pin``, ``build`` and
the library all start here, so every command takes the same path.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trustbuild._internal.builder_detection import builder_of
from trustbuild._internal.dockerfile import Builder, BuildOptions, ImagePull, analyse
from trustbuild._internal.dockerfile.pinning import PinnedDockerfile, pin
from trustbuild._internal.dockerfile.pulls import Analysis, LiteralBase
from trustbuild._internal.dockerfile.readers import ReaderChoice, reader_named
from trustbuild._internal.files import MAX_DOCKERFILE, read_bounded
from trustbuild._internal.notary.client import TrustedDigest
from trustbuild.errors import ExitCode, NoTrustData, Reason, Refused, TrustError, UsageError

if TYPE_CHECKING:
    from trustbuild._internal.policy import Policy

log = logging.getLogger(__name__)

Resolver = Callable[[Iterable[str]], Mapping[str, "TrustedDigest | TrustError"]]


class Status(enum.StrEnum):
    """One image's verdict."""

    TRUSTED = "trusted"  # signed by an accepted role
    ALLOWED = "allowed"  # no trust data, but a policy exception lets it through unverified
    REFUSED = "refused"  # no acceptable trust data ("No trust data for <tag>"), or the policy
    ERROR = "error"  # trust could not be established


# What each status means for the gate.  A status missing here is a failure: the gate fails
# closed on anything it does not know.
_EXIT_CODES: Mapping[object, ExitCode] = {
    Status.TRUSTED: ExitCode.OK,
    Status.ALLOWED: ExitCode.OK,
    Status.REFUSED: ExitCode.UNTRUSTED,
    Status.ERROR: ExitCode.TRUST_ERROR,
}


def exit_code_for(statuses: Iterable[object]) -> ExitCode:
    """The worst exit code of *statuses*; an unknown status counts as a trust error."""
    worst = ExitCode.OK
    for status in statuses:
        worst = max(worst, _EXIT_CODES.get(status, ExitCode.TRUST_ERROR))
    return worst


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """The parts of a build that decide what it pulls: its context, Dockerfile and options."""

    context: str = "."
    dockerfile: str | None = None  # -f: relative to the current directory; "-": stdin
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platforms: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """The Dockerfile a build uses: its text and where it came from (None: stdin)."""

    text: str
    path: Path | None
    name: str  # file name for the pinned copy

    @property
    def display(self) -> str:
        return str(self.path) if self.path else "<stdin>"


def read_dockerfile(context: str, file: str | None, stdin: bytes | None = None) -> Dockerfile:
    """docker's rule: ``-f`` is relative to the current directory, the default is
    ``PATH/Dockerfile``; ``-f -`` is standard input (given as *stdin*)."""
    if file == "-":
        if stdin is None:
            raise UsageError("the Dockerfile is on standard input (-f -) but none was given")
        return Dockerfile(stdin.decode("utf-8", "surrogateescape"), None, "Dockerfile")
    # The default Dockerfile is the context's own (which docker requires it to stay in); a
    # file named with -f is the user's choice.
    path = Path(file) if file else Path(context) / "Dockerfile"
    data = read_bounded(path, limit=MAX_DOCKERFILE, within=None if file else Path(context),
                        error=UsageError, what="Dockerfile")
    return Dockerfile(data.decode("utf-8", "surrogateescape"), path, path.name)


@dataclass(frozen=True, slots=True)
class ImageVerdict:
    """What trust data says about one image the build pulls."""

    pull: ImagePull
    status: Status
    trusted: TrustedDigest | None = None
    error: TrustError | None = None
    exception: str | None = None  # for ALLOWED: the policy entry that allows it

    @property
    def reason(self) -> Reason | None:
        """The machine reason when the image is not trusted."""
        return self.error.reason if self.error is not None else None

    @property
    def message(self) -> str | None:
        """Why, for people."""
        if self.exception is not None:
            return f"{self.exception} ({self.error})" if self.error else self.exception
        return str(self.error) if self.error is not None else None


@dataclass(slots=True)
class CheckReport:
    """Every image a build pulls, with a verdict each."""

    dockerfile: str
    text: str
    reader: ReaderChoice  # which frontend reads the file, and why
    verdicts: list[ImageVerdict]
    warnings: list[str] = field(default_factory=list)
    literal_bases: list[LiteralBase] = field(default_factory=list)
    mode: str = "enforce"  # or "warn": report what would be refused, refuse nothing

    @property
    def ok(self) -> bool:
        """Every image trusted, or allowed by a policy exception."""
        return self.exit_code_enforced is ExitCode.OK

    @property
    def exit_code_enforced(self) -> ExitCode:
        return exit_code_for(v.status for v in self.verdicts)

    @property
    def exit_code(self) -> ExitCode:
        """The gate's answer: warn mode reports failures and lets them pass."""
        return ExitCode.OK if self.mode == "warn" else self.exit_code_enforced

    @property
    def passes(self) -> bool:
        """Whether the build may run: ok, or the policy only warns."""
        return self.exit_code is ExitCode.OK

    def with_status(self, status: Status) -> list[ImageVerdict]:
        return [v for v in self.verdicts if v.status is status]

    @property
    def allowed(self) -> list[ImageVerdict]:
        return self.with_status(Status.ALLOWED)

    @property
    def refused(self) -> list[ImageVerdict]:
        return self.with_status(Status.REFUSED)

    @property
    def unverified(self) -> list[ImageVerdict]:
        return self.with_status(Status.ERROR)

    def digests(self) -> dict[str, str]:
        return {str(v.pull.reference): v.trusted.digest for v in self.verdicts if v.trusted}

    def pinned(self) -> PinnedDockerfile:
        """The pinned Dockerfile: trusted images pinned; images the policy lets through
        unverified (exceptions, warn mode) left as written.  Raises :class:`Refused` (or the
        trust error) unless the build may run."""
        if not self.passes:
            first = next(v for v in self.verdicts if v.status is not Status.TRUSTED
                         and v.status is not Status.ALLOWED)
            cls = Refused if first.status is Status.REFUSED else TrustError
            raise cls(f"the Dockerfile cannot be pinned: {first.pull.reference} is not "
                      f"trusted ({first.message})", reason=first.reason)
        return pin(self.text, [v.pull for v in self.verdicts if v.trusted], self.digests(),
                   self.literal_bases)


def check_dockerfile(dockerfile: Dockerfile, options: BuildOptions, resolve: Resolver,
                     policy: Policy | None = None, reader: ReaderChoice | None = None
                     ) -> CheckReport:
    """Resolve every image the build pulls.  Raises ``DockerfileError`` for the Dockerfile;
    trust failures end up in the verdicts, one per pull.  *reader* is reported as the
    reader of the file (default: the reader *options* name)."""
    reader = reader or reader_of(options)
    analysis = analyse(dockerfile.text, options, path=dockerfile.display)
    for decision in analysis.decisions:
        log.info("%s: %s", dockerfile.display, decision)
    for pull in analysis.pulls:
        log.info("%s: %s (%s, line %d, stage %s)", dockerfile.display, pull.reference,
                 pull.instruction, pull.line, pull.stage)
    answers = resolve(str(p.reference) for p in analysis.pulls)
    return report_for(dockerfile, analysis, reader, answers, policy)


def report_for(dockerfile: Dockerfile, analysis: Analysis, reader: ReaderChoice,
               answers: Mapping[str, TrustedDigest | TrustError],
               policy: Policy | None = None) -> CheckReport:
    """The report of an analysed Dockerfile, from the answers for its references (``scan``
    resolves the references of many files at once)."""
    verdicts = [_verdict(pull, answers[str(pull.reference)], policy)
                for pull in analysis.pulls]
    return CheckReport(dockerfile.display, dockerfile.text, reader, verdicts,
                       analysis.warnings, analysis.literal_bases,
                       str(policy.mode.value) if policy is not None else "enforce")


def _verdict(pull: ImagePull, answer: TrustedDigest | TrustError,
             policy: Policy | None) -> ImageVerdict:
    if isinstance(answer, NoTrustData) and policy is not None:
        rule = policy.exception_for(pull.reference)
        if rule is not None:
            why = f"allowed without trust data by {rule.source} ({rule.match.text})"
            return ImageVerdict(pull, Status.ALLOWED, error=answer,
                                exception=why + (f": {rule.reason}" if rule.reason else ""))
    if isinstance(answer, Refused):
        return ImageVerdict(pull, Status.REFUSED, error=answer)
    if isinstance(answer, TrustError):
        return ImageVerdict(pull, Status.ERROR, error=answer)
    return ImageVerdict(pull, Status.TRUSTED, trusted=answer)


def reader_of(options: BuildOptions) -> ReaderChoice:
    """The reader *options* read the file with, when nobody said why."""
    if options.reader is not None:
        return ReaderChoice(options.reader, "given")
    name = "classic" if options.builder is Builder.CLASSIC else "buildkit"
    return ReaderChoice(reader_named(name), "the default rules")


def options_for(request: BuildRequest, reader: ReaderChoice,
                policy: Policy | None = None) -> BuildOptions:
    """The front end's options for *request*, read by *reader* (and the policy's frontend,
    when the user's policy names one)."""
    frontend = policy.frontend.value if policy is not None and policy.frontend else None
    return BuildOptions(build_args=dict(request.build_args), target=request.target,
                        platforms=list(request.platforms), builder=builder_of(reader),
                        reader=reader.reader, frontend=frontend)
