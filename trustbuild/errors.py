"""Every error trustbuild raises on purpose, each with the exit code the commands use.

| exit | meaning | classes |
|---|---|---|
| 0 | every image trusted (or allowed by the policy) | |
| 2 | a command line, policy file or lock file that cannot be used | :class:`UsageError` |
| 3 | a Dockerfile that cannot be read as its builder reads it | :class:`DockerfileError` |
| 4 | an image has no acceptable trust data (``No trust data for <tag>``) | :class:`Refused` |
| 5 | trust could not be established (network, TLS, expiry, signatures…) | :class:`TrustError` |
| 6 | trustbuild could not run docker or write its files | :class:`ExecutionError` |

When docker itself ran and failed, its own exit status is returned unchanged.

Each trust failure also carries a stable machine :class:`Reason`, which JSON output reports.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Iterator


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2
    DOCKERFILE = 3
    UNTRUSTED = 4
    TRUST_ERROR = 5
    EXECUTION = 6


EXIT_CODE_MEANINGS: dict[int, str] = {
    ExitCode.OK: "success (for build: docker succeeded)",
    ExitCode.USAGE: "usage error: a command line, policy file or lock file that cannot be used",
    ExitCode.DOCKERFILE: "Dockerfile error: it cannot be read as its builder reads it, or "
                         "an image cannot be pinned in place",
    ExitCode.UNTRUSTED: "refused: an image has no acceptable trust data",
    ExitCode.TRUST_ERROR: "trust could not be established: network, TLS, authentication, "
                          "expired metadata, bad signatures, rollback",
    ExitCode.EXECUTION: "trustbuild could not run docker or write its files",
}


def exit_codes_help() -> str:
    """The exit codes, for ``--help``."""
    lines = [f"  {int(code)}  {text}" for code, text in EXIT_CODE_MEANINGS.items()]
    lines.insert(1, "  *  docker's own status when docker ran and failed (usually 1)")
    return "Exit codes:\n" + "\n".join(lines)


class Reason(enum.StrEnum):
    """Why an image was not trusted, for machines (``reason`` in JSON output)."""

    NOT_SIGNED = "not-signed"  # the repository has trust data, the tag is not signed
    SIGNED_BY_OTHER_ROLE = "signed-by-other-role"  # signed, but not by an accepted role
    NO_TRUST_DATA = "no-trust-data"  # the trust server has nothing for the repository
    REPOSITORY_NOT_FOUND = "repository-not-found"  # the registry has no such repository
    ONBUILD_UNREADABLE = "onbuild-unreadable"  # a base image's ONBUILD triggers not read
    REQUIRED_SIGNER = "required-signer"  # signed, not the way the policy requires
    LOCK_MISMATCH = "lock-mismatch"  # the lock and the trust data disagree
    NOT_LOCKED = "not-locked"  # the build pulls an image its lock does not list
    NOT_PULLED = "not-pulled"  # the lock lists an image the build no longer pulls
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad-signature"
    ROOT_CHANGED = "root-changed"
    PIN_MISMATCH = "pin-mismatch"
    NO_PINNED_ROOT = "no-pinned-root"  # trust on first use is off and nothing is pinned
    ROLLBACK = "rollback"
    HASH_MISMATCH = "hash-mismatch"
    BAD_METADATA = "bad-metadata"
    OFFLINE = "offline"  # offline mode, and the cache cannot answer
    AUTH = "auth"
    NETWORK = "network"
    PROXY = "proxy"
    TLS = "tls"
    TIMEOUT = "timeout"
    SERVER = "server-error"
    TOO_LARGE = "response-too-large"
    DOCKERFILE = "dockerfile"
    ERROR = "error"  # anything else


class TrustbuildError(Exception):
    """Root of every error trustbuild raises on purpose."""

    exit_code: int = ExitCode.EXECUTION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- 2: usage ------------------------------------------------------------------------------

class UsageError(TrustbuildError):
    """A command line docker would reject, or one trustbuild cannot build safely."""

    exit_code = ExitCode.USAGE


class PolicyError(UsageError):
    """A policy file that cannot be used: the message names the file and the key."""


class InvalidReferenceError(UsageError):
    """An image reference that docker's reference grammar rejects."""


class LockfileError(UsageError):
    """A lock file that cannot be used: not JSON, another schema version, a malformed entry,
    or a lock written for another Dockerfile.  The message names the file and the entry."""


# -- 3: the Dockerfile -----------------------------------------------------------------------

_DOCKERFILE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trustbuild_dockerfile", default=None)


@contextlib.contextmanager
def reading_dockerfile(path: str | None) -> Iterator[None]:
    """While the front end reads the Dockerfile *path*, every :class:`DockerfileError`
    raised names it (the front end is pure: it gets text, not a file)."""
    token = _DOCKERFILE.set(path)
    try:
        yield
    finally:
        _DOCKERFILE.reset(token)


class DockerfileError(TrustbuildError):
    """The Dockerfile cannot be read the way its builder reads it, or the set of images it
    pulls cannot be decided statically.  Carries the file (given, or the one being read: see
    :func:`reading_dockerfile`) and the 1-based line (0: the file as a whole)."""

    exit_code = ExitCode.DOCKERFILE

    def __init__(self, message: str, line: int = 0, *, path: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.path = path if path is not None else _DOCKERFILE.get()

    def __str__(self) -> str:
        where = self.path or "Dockerfile"
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}"


class ShellError(DockerfileError):
    """A word BuildKit's lexer rejects; the message is BuildKit's."""


class PinError(DockerfileError):
    """The pinned Dockerfile cannot be written for the given digests."""


# -- 4 and 5: trust ------------------------------------------------------------------------

class TrustError(TrustbuildError):
    """Trust could not be established; names the repository and server when known."""

    exit_code = ExitCode.TRUST_ERROR
    reason: Reason = Reason.ERROR

    def __init__(self, message: str, *, gun: str | None = None,
                 server: str | None = None, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.gun = gun
        self.server = server
        if reason is not None:
            self.reason = reason

    def with_context(self, gun: str, server: str) -> TrustError:
        self.gun = self.gun or gun
        self.server = self.server or server
        return self

    def __str__(self) -> str:
        where = [f"repository {self.gun}" if self.gun else "",
                 f"trust server {self.server}" if self.server else ""]
        context = ", ".join(w for w in where if w)
        return f"{self.message} ({context})" if context else self.message


class Refused(TrustError):
    """Trust data was read and verified, and it does not vouch for this image."""

    exit_code = ExitCode.UNTRUSTED
    reason = Reason.NOT_SIGNED


class NoTrustData(Refused):
    """The tag (or digest) is not signed in ``targets/releases`` or ``targets``, or the
    repository has no trust data at all.  ``signed_by``: the other roles that did sign the
    tag (reason ``signed-by-other-role``)."""

    def __init__(self, message: str, *, gun: str | None = None, server: str | None = None,
                 reason: Reason | None = None, signed_by: tuple[str, ...] = ()) -> None:
        super().__init__(message, gun=gun, server=server, reason=reason)
        self.signed_by = signed_by


class LockMismatch(Refused):
    """The build and its lock disagree (``--locked``): a tag now signed for another digest,
    an image the lock does not list, or (``check --locked``) one the build no longer pulls."""

    reason = Reason.LOCK_MISMATCH


class PolicyRefusal(Refused):
    """The image is signed, but not the way the trust policy requires (required signers)."""

    reason = Reason.REQUIRED_SIGNER


class MetadataError(TrustError):
    """Trust metadata that is malformed or breaks notary's structure rules."""

    reason = Reason.BAD_METADATA


class CanonicalJSONError(MetadataError):
    """JSON that notary's verifier could not have re-encoded the same way."""


class SignatureError(TrustError):
    """Signatures that do not verify, a threshold not met, or a key ID that is not its key's."""

    reason = Reason.BAD_SIGNATURE


class ExpiredError(TrustError):
    """Trust metadata past its expiry."""

    reason = Reason.EXPIRED


class RollbackError(TrustError):
    """Trust metadata older than what this machine has already seen."""

    reason = Reason.ROLLBACK


class HashMismatchError(TrustError):
    """A file whose hash or length differs from what its parent metadata says."""

    reason = Reason.HASH_MISMATCH


class RootError(TrustError):
    """A root that cannot be trusted: certificate checks, rotation, or pinning."""

    reason = Reason.ROOT_CHANGED


class OnbuildUnreadable(TrustError):
    """A trusted base image's ONBUILD triggers could not be read at its signed digest (from
    the engine, the registry or a ``docker pull``): what the build would run is unknown, so
    the image is not verified."""

    reason = Reason.ONBUILD_UNREADABLE


class RegistryError(TrustError):
    """A registry's answer trustbuild cannot use: not JSON, an unsupported manifest type, no
    manifest for the platform, too many redirects."""


class OfflineError(TrustError):
    """Offline mode was asked for and the cache cannot answer."""

    reason = Reason.OFFLINE


class TransportError(TrustError):
    """The trust server could not be asked."""

    reason = Reason.NETWORK


class NetworkError(TransportError):
    """Connection failures, timeouts and TLS failures."""


class ProxyError(NetworkError):
    """The proxy the environment names refused or failed (never bypassed)."""

    reason = Reason.PROXY


class TLSError(NetworkError):
    """The server's certificate is not trusted, or the TLS handshake failed."""

    reason = Reason.TLS


class RequestTimeout(NetworkError):
    """The server did not answer in time."""

    reason = Reason.TIMEOUT


class AuthenticationError(TransportError):
    """The server (or its token service) refused the credentials, or wanted some."""

    reason = Reason.AUTH


class ServerError(TransportError):
    """An HTTP status the client cannot use (5xx and the like)."""

    reason = Reason.SERVER


class ResponseTooLarge(TransportError):
    """A response over the size allowed for that file."""

    reason = Reason.TOO_LARGE


class NotFoundError(TransportError):
    """The server has no such file (HTTP 404)."""


# -- 6: running docker, writing files ------------------------------------------------------

class ExecutionError(TrustbuildError):
    """trustbuild could not run docker, ask the engine, or write its own files."""

    exit_code = ExitCode.EXECUTION


class Interrupted(TrustbuildError):
    """A signal stopped trustbuild (docker, when it ran, got the signal first); the exit status
    is 128 plus the signal's number, as a shell reports it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum
        self.exit_code = 128 + signum
