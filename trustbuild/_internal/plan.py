"""The check: every image a build pulls, each resolved through trust data, with a verdict.

This joins the Dockerfile front end and the Notary client; ``check``, ``pin`` and ``build``
all start here, so the CLI and the library take the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trustbuild._internal.dockerfile import Builder, BuildOptions, ImagePull, analyse
from trustbuild._internal.dockerfile.pinning import PinnedDockerfile, pin
from trustbuild._internal.dockerfile.pulls import LiteralBase
from trustbuild._internal.notary.client import TrustedDigest
from trustbuild.errors import NoTrustData, Refused, TrustError

TRUSTED = "trusted"
ALLOWED = "allowed"  # no trust data, but the policy lists the image as an exception
REFUSED = "refused"  # no acceptable trust data ("No trust data for <tag>"), or policy says no
UNVERIFIED = "error"  # trust could not be established

if TYPE_CHECKING:
    from trustbuild._internal.policy import Policy

Resolver = Callable[[Iterable[str]], Mapping[str, "TrustedDigest | TrustError"]]


@dataclass(frozen=True, slots=True)
class ImageVerdict:
    pull: ImagePull
    status: str
    trusted: TrustedDigest | None = None
    error: TrustError | None = None
    exception: str | None = None  # for ALLOWED: the policy entry that allows it

    @property
    def reason(self) -> str | None:
        if self.exception is not None:
            return f"{self.exception} ({self.error})" if self.error else self.exception
        return str(self.error) if self.error is not None else None

    def to_json(self) -> dict[str, object]:
        ref = self.pull.reference
        return {
            "written": self.pull.written or str(ref),
            "reference": str(ref),
            "tag": ref.tag,
            "digest": self.trusted.digest if self.trusted else None,
            "role": self.trusted.role if self.trusted else None,
            "instruction": self.pull.instruction,
            "line": self.pull.line,
            "column": self.pull.column,
            "stage": self.pull.stage,
            "platform": self.pull.platform,
            "status": self.status,
            "reason": self.reason,
            "expires": self.trusted.expires.isoformat() if self.trusted else None,
            "notes": list(self.trusted.notes) if self.trusted else [],
            "server": (self.trusted.server if self.trusted else
                       self.error.server if self.error else None),
        }


@dataclass(slots=True)
class CheckReport:
    dockerfile: str
    text: str
    builder: Builder
    verdicts: list[ImageVerdict]
    warnings: list[str] = field(default_factory=list)
    literal_bases: list[LiteralBase] = field(default_factory=list)
    mode: str = "enforce"  # or "warn": report what would be refused, refuse nothing

    @property
    def ok(self) -> bool:
        """Every image trusted, or allowed by a policy exception."""
        return all(v.status in (TRUSTED, ALLOWED) for v in self.verdicts)

    @property
    def passes(self) -> bool:
        """Whether the build may run: ok, or the policy only warns."""
        return self.ok or self.mode == "warn"

    @property
    def allowed(self) -> list[ImageVerdict]:
        return [v for v in self.verdicts if v.status == ALLOWED]

    @property
    def refused(self) -> list[ImageVerdict]:
        return [v for v in self.verdicts if v.status == REFUSED]

    @property
    def unverified(self) -> list[ImageVerdict]:
        return [v for v in self.verdicts if v.status == UNVERIFIED]

    def digests(self) -> dict[str, str]:
        return {str(v.pull.reference): v.trusted.digest for v in self.verdicts if v.trusted}

    def pinned(self) -> PinnedDockerfile:
        """The pinned Dockerfile: trusted images pinned; images the policy lets through
        unverified (exceptions, warn mode) left as written."""
        if not self.passes:
            raise TrustError("the Dockerfile cannot be pinned: not every image is trusted")
        return pin(self.text, [v.pull for v in self.verdicts if v.trusted], self.digests(),
                   self.literal_bases)

    def to_json(self) -> dict[str, object]:
        return {"dockerfile": self.dockerfile, "builder": self.builder.value, "ok": self.ok,
                "mode": self.mode, "images": [v.to_json() for v in self.verdicts],
                "warnings": self.warnings}


def check_dockerfile(text: str, options: BuildOptions, resolve: Resolver,
                     name: str = "Dockerfile", policy: Policy | None = None) -> CheckReport:
    """Resolve every image the build pulls.  Raises ``DockerfileError`` for the Dockerfile;
    trust failures end up in the verdicts, one per pull."""
    analysis = analyse(text, options, path=name)
    answers = resolve(str(p.reference) for p in analysis.pulls)
    verdicts = [_verdict(pull, answers[str(pull.reference)], policy)
                for pull in analysis.pulls]
    return CheckReport(name, text, options.builder, verdicts, analysis.warnings,
                       analysis.literal_bases,
                       str(policy.mode.value) if policy is not None else "enforce")


def _verdict(pull: ImagePull, answer: TrustedDigest | TrustError,
             policy: Policy | None) -> ImageVerdict:
    if isinstance(answer, NoTrustData) and policy is not None:
        rule = policy.exception_for(pull.reference)
        if rule is not None:
            why = f"allowed without trust data by {rule.source} ({rule.match.text})"
            return ImageVerdict(pull, ALLOWED, error=answer,
                                exception=why + (f": {rule.reason}" if rule.reason else ""))
    if isinstance(answer, Refused):
        return ImageVerdict(pull, REFUSED, error=answer)
    if isinstance(answer, TrustError):
        return ImageVerdict(pull, UNVERIFIED, error=answer)
    return ImageVerdict(pull, TRUSTED, trusted=answer)
