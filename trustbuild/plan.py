"""The check: every image a build pulls, each resolved through trust data, with a verdict.

This joins the Dockerfile front end and the Notary client; ``check``, ``pin`` and ``build``
all start here, so the CLI and the library take the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from trustbuild.dockerfile import Builder, BuildOptions, ImagePull, analyse
from trustbuild.dockerfile.pinning import PinnedDockerfile, pin
from trustbuild.dockerfile.pulls import LiteralBase
from trustbuild.notary.client import TrustedDigest
from trustbuild.notary.errors import NoTrustData, TrustError

TRUSTED = "trusted"
REFUSED = "refused"  # no acceptable trust data: "No trust data for <tag>"
UNVERIFIED = "error"  # trust could not be established

Resolver = Callable[[Iterable[str]], Mapping[str, "TrustedDigest | TrustError"]]


@dataclass(frozen=True)
class ImageVerdict:
    pull: ImagePull
    status: str
    trusted: TrustedDigest | None = None
    error: TrustError | None = None

    @property
    def reason(self) -> str | None:
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
            "server": (self.trusted.server if self.trusted else
                       self.error.server if self.error else None),
        }


@dataclass
class CheckReport:
    dockerfile: str
    text: str
    builder: Builder
    verdicts: list[ImageVerdict]
    warnings: list[str] = field(default_factory=list)
    literal_bases: list[LiteralBase] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.status == TRUSTED for v in self.verdicts)

    @property
    def refused(self) -> list[ImageVerdict]:
        return [v for v in self.verdicts if v.status == REFUSED]

    @property
    def unverified(self) -> list[ImageVerdict]:
        return [v for v in self.verdicts if v.status == UNVERIFIED]

    def digests(self) -> dict[str, str]:
        return {str(v.pull.reference): v.trusted.digest for v in self.verdicts if v.trusted}

    def pinned(self) -> PinnedDockerfile:
        """The pinned Dockerfile; only for a report where every image is trusted."""
        if not self.ok:
            raise TrustError("the Dockerfile cannot be pinned: not every image is trusted")
        return pin(self.text, [v.pull for v in self.verdicts], self.digests(),
                   self.literal_bases)

    def to_json(self) -> dict[str, object]:
        return {"dockerfile": self.dockerfile, "builder": self.builder.value, "ok": self.ok,
                "images": [v.to_json() for v in self.verdicts], "warnings": self.warnings}


def check_dockerfile(text: str, options: BuildOptions, resolve: Resolver,
                     name: str = "Dockerfile") -> CheckReport:
    """Resolve every image the build pulls.  Raises ``DockerfileError`` for the Dockerfile;
    trust failures end up in the verdicts, one per pull."""
    analysis = analyse(text, options)
    answers = resolve(str(p.reference) for p in analysis.pulls)
    verdicts = [_verdict(pull, answers[str(pull.reference)]) for pull in analysis.pulls]
    return CheckReport(name, text, options.builder, verdicts, analysis.warnings,
                       analysis.literal_bases)


def _verdict(pull: ImagePull, answer: TrustedDigest | TrustError) -> ImageVerdict:
    if isinstance(answer, NoTrustData):
        return ImageVerdict(pull, REFUSED, error=answer)
    if isinstance(answer, TrustError):
        return ImageVerdict(pull, UNVERIFIED, error=answer)
    return ImageVerdict(pull, TRUSTED, trusted=answer)
