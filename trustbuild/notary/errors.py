"""Why trust could not be given.  ``NoTrustData`` is a refusal (the tag is not signed where
trustbuild accepts signatures); every other error means trust could not be established."""

from __future__ import annotations

from trustbuild.errors import TrustbuildError


class TrustError(TrustbuildError):
    """Base of every Docker Content Trust failure; names the repository and server if known."""

    def __init__(self, message: str, *, gun: str | None = None,
                 server: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.gun = gun
        self.server = server

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


class NoTrustData(Refused):
    """The tag (or digest) is not signed in ``targets/releases`` or ``targets``, or the
    repository has no trust data at all."""


class PolicyRefusal(Refused):
    """The image is signed, but not the way the trust policy requires (required signers)."""


class MetadataError(TrustError):
    """Trust metadata that is malformed or breaks notary's structure rules."""


class SignatureError(TrustError):
    """Signatures that do not verify, a threshold not met, or a key ID that is not its key's."""


class ExpiredError(TrustError):
    """Trust metadata past its expiry."""


class RollbackError(TrustError):
    """Trust metadata older than what this machine has already seen."""


class HashMismatchError(TrustError):
    """A file whose hash or length differs from what its parent metadata says."""


class RootError(TrustError):
    """A root that cannot be trusted: certificate checks, rotation, or pinning."""


class OfflineError(TrustError):
    """Offline mode was asked for and the cache cannot answer."""


class TransportError(TrustError):
    """The trust server could not be asked."""


class NetworkError(TransportError):
    """Connection failures, timeouts and TLS failures."""


class TLSError(NetworkError):
    """The server's certificate is not trusted, or the TLS handshake failed."""


class RequestTimeout(NetworkError):
    """The server did not answer in time."""


class AuthenticationError(TransportError):
    """The server (or its token service) refused the credentials, or wanted some."""


class ServerError(TransportError):
    """An HTTP status the client cannot use (5xx and the like)."""


class ResponseTooLarge(TransportError):
    """A response over the size allowed for that file."""


class NotFoundError(TransportError):
    """The server has no such file (HTTP 404)."""
