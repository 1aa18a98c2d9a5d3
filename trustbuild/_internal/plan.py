"""The check: every image a build pulls, each resolved through trust data, with a verdict.

This joins the Dockerfile front end and the trust client; ``check``, ``pin``, ``build`` and
the library all start here, so every command takes the same path.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trustbuild._internal.builder_detection import builder_of
from trustbuild._internal.dockerfile import Builder, BuildOptions, ImagePull, analyse
from trustbuild._internal.dockerfile.pinning import PinnedDockerfile, pin
from trustbuild._internal.dockerfile.pulls import Analysis, LiteralBase, analyse_with_triggers
from trustbuild._internal.dockerfile.readers import ReaderChoice, reader_named
from trustbuild._internal.files import MAX_DOCKERFILE, read_bounded
from trustbuild._internal.notary.client import TrustedDigest
from trustbuild._internal.reference import ImageReference
from trustbuild.errors import (
    DockerfileError,
    ExitCode,
    NoTrustData,
    OnbuildUnreadable,
    Reason,
    Refused,
    TrustError,
    UsageError,
)

if TYPE_CHECKING:
    from trustbuild._internal.policy import Policy

log = logging.getLogger(__name__)

Resolver = Callable[[Iterable[str]], Mapping[str, "TrustedDigest | TrustError"]]
# The ONBUILD triggers of a base image (``name@digest``) for the given platforms; raises a
# TrustError when they cannot be read (``onbuild.OnbuildReader.read``).
OnbuildSource = Callable[[ImageReference, Sequence[str]], Sequence[str]]
MAX_TRIGGER_READS = 8  # base images whose triggers are read at once


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
    path = Path(file) if file else _default_dockerfile(Path(context))
    data = read_bounded(path, limit=MAX_DOCKERFILE, within=None if file else Path(context),
                        error=UsageError, what="Dockerfile")
    return Dockerfile(data.decode("utf-8", "surrogateescape"), path, path.name)


def _default_dockerfile(context: Path) -> Path:
    """docker's default: ``PATH/Dockerfile``, else ``PATH/dockerfile`` when only that one
    exists (the CLI's fallback)."""
    path = context / "Dockerfile"
    lower = context / "dockerfile"
    if not os.path.lexists(path) and os.path.lexists(lower):
        return lower
    return path


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
                     policy: Policy | None = None, reader: ReaderChoice | None = None, *,
                     onbuild: OnbuildSource | None = None) -> CheckReport:
    """Resolve every image the build pulls, the images ONBUILD triggers of its base images
    bring in included (read by *onbuild*; without it no trigger can be read, and every
    trusted base image is an error).  Raises ``DockerfileError`` for the Dockerfile; trust
    failures end up in the verdicts, one per pull.  *reader* is reported as the reader of
    the file (default: the reader *options* name)."""
    reader = reader or reader_of(options)
    analysis = analyse(dockerfile.text, options, path=dockerfile.display)
    answers = dict(resolve(str(p.reference) for p in analysis.pulls))
    outcome = complete_onbuild(dockerfile, analysis, options, answers, resolve, onbuild,
                               policy)
    for decision in outcome.analysis.decisions:
        log.info("%s: %s", dockerfile.display, decision)
    for pull in outcome.analysis.pulls:
        log.info("%s: %s (%s, line %d, stage %s)", dockerfile.display, pull.reference,
                 pull.instruction, pull.line, pull.stage)
    return report_for(dockerfile, outcome.analysis, reader, resolve_rest(outcome, answers,
                                                                         resolve),
                      policy, outcome)


@dataclass(slots=True)
class OnbuildOutcome:
    """The analysis once base images' ONBUILD triggers are read; the base images whose
    triggers were not read, and why (not trusted, or unreadable); and which of those are
    trusted images whose triggers could not be read (their verdicts become errors)."""

    analysis: Analysis
    not_read: dict[str, TrustError] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)


def complete_onbuild(dockerfile: Dockerfile, analysis: Analysis, options: BuildOptions,
                     answers: dict[str, TrustedDigest | TrustError], resolve: Resolver,
                     onbuild: OnbuildSource | None,
                     policy: Policy | None = None) -> OnbuildOutcome:
    """Read the ONBUILD triggers of every base image the build uses, each at the digest
    trust data signed for it, and analyse the file again with them: the one path of every
    command.  A base image a trigger brings in (through a stage it names) is resolved
    through *resolve* first (its answer lands in *answers*).  A trigger that pulls an image
    is refused: the image is named by tag in the base image's config, where no pin reaches
    it.  Untrusted base images have no signed digest to read at: they are listed as not
    read; but one the policy lets through without trust data is read at its tag (the
    exception vouches for the image, never for what its triggers pull), and where that
    cannot be done it is an error like a trusted one."""
    if not analysis.unread_trigger_images:
        _refuse_trigger_pulls(analysis, dockerfile)  # triggers the caller gave, if any
        return OnbuildOutcome(analysis)
    outcome = OnbuildOutcome(analysis)
    lock = threading.Lock()

    def answer_for(key: str) -> TrustedDigest | TrustError:
        with lock:
            known = answers.get(key)
        if known is None:
            known = resolve([key])[key]
            with lock:
                known = answers.setdefault(key, known)
        return known

    def read(pulls: Sequence[ImagePull]) -> Sequence[str]:
        key = str(pulls[0].reference)
        answer = answer_for(key)
        if isinstance(answer, TrustedDigest):
            image = ImageReference(answer.reference.domain, answer.reference.path, None,
                                   answer.digest)
        elif isinstance(answer, NoTrustData) and policy is not None \
                and policy.exception_for(pulls[0].reference) is not None:
            image = pulls[0].reference  # allowed by its tag: read there
        else:
            with lock:
                outcome.not_read[key] = answer
            return []
        platforms = list(dict.fromkeys(p.platform for p in pulls if p.platform))
        try:
            if onbuild is None:
                raise OnbuildUnreadable("no ONBUILD reader was given")
            return list(onbuild(image, platforms))
        except TrustError as exc:
            error = exc if isinstance(exc, OnbuildUnreadable) else OnbuildUnreadable(
                f"cannot read the ONBUILD triggers of {image}: {exc}", gun=image.name)
            with lock:
                outcome.not_read[key] = error
                outcome.unreadable.add(key)
            return []

    with ThreadPoolExecutor(max_workers=MAX_TRIGGER_READS,
                            thread_name_prefix="trustbuild-onbuild") as pool:
        outcome.analysis = analyse_with_triggers(dockerfile.text, options, read,
                                                 path=dockerfile.display, executor=pool,
                                                 first=analysis)
    _refuse_trigger_pulls(outcome.analysis, dockerfile)
    return outcome


def _refuse_trigger_pulls(analysis: Analysis, dockerfile: Dockerfile) -> None:
    """A base image's ONBUILD triggers run in the build; an image one of them pulls was
    chosen by tag in the base image's config, where no pin can reach it, so such a build is
    refused.  Triggers that pull nothing (``ONBUILD RUN make``), and triggers naming a stage
    of this file (whose images are checked), are fine."""
    for pull in analysis.pulls:
        if pull.instruction.startswith("ONBUILD (from "):
            raise DockerfileError(
                f"{pull.instruction.removeprefix('ONBUILD ')}: an ONBUILD trigger in the base "
                f"image's config pulls {pull.reference}, which trustbuild cannot pin; refusing "
                "to build (use a base image without such triggers)", pull.line,
                path=dockerfile.display)


def resolve_rest(outcome: OnbuildOutcome, answers: dict[str, TrustedDigest | TrustError],
                 resolve: Resolver) -> dict[str, TrustedDigest | TrustError]:
    """*answers*, with those of the pulls ONBUILD triggers brought in that are still to be
    resolved (one call)."""
    missing = list(dict.fromkeys(str(p.reference) for p in outcome.analysis.pulls
                                 if str(p.reference) not in answers))
    if missing:
        answers.update(resolve(missing))
    return answers


def report_for(dockerfile: Dockerfile, analysis: Analysis, reader: ReaderChoice,
               answers: Mapping[str, TrustedDigest | TrustError],
               policy: Policy | None = None, onbuild: OnbuildOutcome | None = None
               ) -> CheckReport:
    """The report of an analysed Dockerfile, from the answers for its references (``scan``
    resolves the references of many files at once) and what reading ONBUILD triggers found:
    a trusted base image whose triggers could not be read is an error, not trusted."""
    onbuild = onbuild or OnbuildOutcome(analysis)
    verdicts = []
    for pull in analysis.pulls:
        key = str(pull.reference)
        if key in onbuild.unreadable and pull.instruction == "FROM":
            verdicts.append(ImageVerdict(pull, Status.ERROR, error=onbuild.not_read[key]))
        else:
            verdicts.append(_verdict(pull, answers[key], policy))
    mode = str(policy.mode.value) if policy is not None else "enforce"
    warnings = list(analysis.warnings)
    for key in dict.fromkeys(str(v.pull.reference) for v in verdicts
                             if v.pull.instruction == "FROM" and v.status is not Status.TRUSTED
                             and (v.status is Status.ALLOWED or mode == "warn")):
        if key in onbuild.not_read and key not in onbuild.unreadable:
            warnings.append(f"the ONBUILD triggers of {key} were not read: it is not trusted, "
                            "so there is no signed digest to read them at, and whatever they "
                            "pull is not checked")
    return CheckReport(dockerfile.display, dockerfile.text, reader, verdicts, warnings,
                       analysis.literal_bases, mode)


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
