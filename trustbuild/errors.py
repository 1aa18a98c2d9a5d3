"""The exception hierarchy.  Every error trustbuild raises on purpose is a TrustbuildError."""

from __future__ import annotations


class TrustbuildError(Exception):
    """Root of every error trustbuild raises on purpose."""


class InvalidReferenceError(TrustbuildError):
    """An image reference that docker's reference grammar rejects."""


class DockerfileError(TrustbuildError):
    """The Dockerfile cannot be read the way BuildKit reads it, or the set of images it pulls
    cannot be decided statically.  Carries the 1-based line (0: the file as a whole)."""

    def __init__(self, message: str, line: int = 0, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path

    def __str__(self) -> str:
        where = self.path or "Dockerfile"
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}"


class PinError(TrustbuildError):
    """The pinned Dockerfile cannot be written for the given digests."""
