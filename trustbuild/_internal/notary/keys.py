"""Notary public keys, key IDs and signature checks.

A key is read (``cryptography``, in ``crypto``, imported when the first key is parsed) when its
metadata is parsed; every signature a run relies on is checked in that run.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from trustbuild._internal.notary import canonical
from trustbuild.errors import MetadataError

if TYPE_CHECKING:
    from cryptography import x509

    from trustbuild._internal.notary.crypto import CertificateInfo, KeyMaterial

KEY_TYPES = ("ed25519", "ecdsa", "rsa", "ecdsa-x509", "rsa-x509")


class SignedDocument(Protocol):
    """A metadata file as a signature covers it."""

    @property
    def signed_bytes(self) -> bytes:
        """The canonical bytes signatures cover."""


def key_id(keytype: str, public_b64: str) -> str:
    """Notary's ``TUFKey.ID``: SHA-256 of the canonical key with ``private`` null."""
    # canonical.encode({"keytype": …, "keyval": {"private": None, "public": …}}), written out
    body = (b'{"keytype":' + canonical.string(keytype) + b',"keyval":{"private":null,"public":'
            + canonical.string(public_b64) + b"}}")
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)  # no slots: keyid and spki are cached properties
class PublicKey:
    keytype: str
    public_b64: str
    material: KeyMaterial = field(repr=False, compare=False)

    @cached_property
    def keyid(self) -> str:
        return key_id(self.keytype, self.public_b64)

    @property
    def is_certificate(self) -> bool:
        return self.keytype.endswith("-x509")

    @property
    def certificate(self) -> CertificateInfo | None:
        return self.material.certificate

    @property
    def spki(self) -> str:
        """The underlying public key, to count two certificates over one key once."""
        return self.material.spki_b64

    @cached_property
    def canonical_id(self) -> str:
        """The ID docker and the notary CLI print: a certificate's key as a plain key."""
        if not self.is_certificate:
            return self.keyid
        plain = "ecdsa" if self.keytype == "ecdsa-x509" else "rsa"
        return key_id(plain, self.material.spki_b64)

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The certificate chain, leaf first (empty for a plain key)."""
        return self.material.certificates

    def verify(self, method: str, signature: bytes, document: SignedDocument) -> bool:
        """True when *signature* by this key over *document* checks out with *method*."""
        from trustbuild._internal.notary import crypto

        return crypto.verify(self.material, method.lower(), signature, document.signed_bytes)


def parse_key(obj: Any) -> PublicKey:
    if not isinstance(obj, dict) or not isinstance(obj.get("keyval"), dict):
        raise MetadataError("a key must be an object with keytype and keyval")
    keytype, public = obj.get("keytype"), obj["keyval"].get("public")
    if keytype not in KEY_TYPES:
        raise MetadataError(f"unsupported key type {keytype!r}")
    if not isinstance(public, str):
        raise MetadataError("a key's keyval.public must be a base64 string")
    try:
        base64.b64decode(public, validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        raise MetadataError(f"{keytype} key is not valid base64") from None
    from trustbuild._internal.notary import crypto

    return PublicKey(keytype, public, crypto.read_key(keytype, public))
