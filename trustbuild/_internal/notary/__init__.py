"""Docker Content Trust (Notary v1): a verifying client.

``TrustClient().resolve("registry/name:tag")`` returns the digest signed for the tag in
``targets/releases`` or ``targets``, or raises ``NoTrustData``; every other failure is a
``TrustError`` subclass that says what went wrong.
"""

from trustbuild._internal.dockerconfig import default_trust_server
from trustbuild._internal.notary.client import TrustClient, TrustedDigest
from trustbuild.errors import (
    AuthenticationError,
    ExpiredError,
    HashMismatchError,
    MetadataError,
    NetworkError,
    NoTrustData,
    OfflineError,
    RequestTimeout,
    ResponseTooLarge,
    RollbackError,
    RootError,
    ServerError,
    SignatureError,
    TLSError,
    TransportError,
    TrustError,
)

__all__ = [
    "AuthenticationError",
    "ExpiredError",
    "HashMismatchError",
    "MetadataError",
    "NetworkError",
    "NoTrustData",
    "OfflineError",
    "RequestTimeout",
    "ResponseTooLarge",
    "RollbackError",
    "RootError",
    "ServerError",
    "SignatureError",
    "TLSError",
    "TransportError",
    "TrustClient",
    "TrustError",
    "TrustedDigest",
    "default_trust_server",
]
