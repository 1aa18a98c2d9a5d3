"""Notary public keys, key IDs and signature checks.

A key is read (``cryptography``, in ``crypto``) the first time it is seen, and each signature is
checked once; both results are kept as ``facts``, so metadata that has not changed since an
earlier run is verified without loading ``cryptography`` at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from trustbuild._internal.notary import canonical, facts
from trustbuild._internal.notary.facts import CertificateFacts, KeyFacts
from trustbuild.errors import MetadataError

if TYPE_CHECKING:
    from cryptography import x509

KEY_TYPES = ("ed25519", "ecdsa", "rsa", "ecdsa-x509", "rsa-x509")


class SignedDocument(Protocol):
    """A metadata file as a signature covers it."""

    @property
    def sha256(self) -> bytes:
        """Of the whole file."""

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
    facts: KeyFacts = field(repr=False, compare=False)

    @cached_property
    def keyid(self) -> str:
        return key_id(self.keytype, self.public_b64)

    @property
    def is_certificate(self) -> bool:
        return self.keytype.endswith("-x509")

    @property
    def certificate(self) -> CertificateFacts | None:
        return self.facts.certificate

    @property
    def spki(self) -> str:
        """The underlying public key, to count two certificates over one key once."""
        return self.facts.spki_b64

    @cached_property
    def canonical_id(self) -> str:
        """The ID docker and the notary CLI print: a certificate's key as a plain key."""
        if not self.is_certificate:
            return self.keyid
        plain = "ecdsa" if self.keytype == "ecdsa-x509" else "rsa"
        return key_id(plain, self.facts.spki_b64)

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The certificate chain, leaf first (empty for a plain key)."""
        if not self.is_certificate:
            return ()
        from trustbuild._internal.notary import crypto

        return crypto.certificates(self.keytype, self.public_b64)

    def signature_fact(self, method: str, signature: bytes, document: SignedDocument) -> str:
        return facts.signature_fact(self.keytype, self.public_b64, method.lower(),
                                    document.sha256, signature)

    def verify(self, method: str, signature: bytes, document: SignedDocument) -> bool:
        """True when *signature* by this key over *document* checks out with *method*."""
        method = method.lower()
        fact = self.signature_fact(method, signature, document)
        if facts.signature_known(fact):
            return True
        from trustbuild._internal.notary import crypto

        if not crypto.verify(self.keytype, self.public_b64, method, signature,
                             document.signed_bytes):
            return False
        facts.remember_signature(fact)
        return True


def parse_key(obj: Any) -> PublicKey:
    if not isinstance(obj, dict) or not isinstance(obj.get("keyval"), dict):
        raise MetadataError("a key must be an object with keytype and keyval")
    keytype, public = obj.get("keytype"), obj["keyval"].get("public")
    if keytype not in KEY_TYPES:
        raise MetadataError(f"unsupported key type {keytype!r}")
    if not isinstance(public, str):
        raise MetadataError("a key's keyval.public must be a base64 string")
    return PublicKey(keytype, public, key_facts(keytype, public))


def key_facts(keytype: str, public_b64: str) -> KeyFacts:
    fingerprint = facts.key_fingerprint(keytype, public_b64)
    known = facts.known_key(fingerprint)
    if known is None:
        try:
            base64.b64decode(public_b64, validate=True)
        except binascii.Error:
            raise MetadataError(f"{keytype} key is not valid base64") from None
        from trustbuild._internal.notary import crypto

        known = crypto.key_facts(keytype, public_b64)
        facts.remember_key(fingerprint, known)
    return known
