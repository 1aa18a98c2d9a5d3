"""Notary public keys, key IDs and signature checks, on ``cryptography``.

Key types: ``ed25519`` (raw 32 bytes), ``ecdsa`` and ``rsa`` (DER SubjectPublicKeyInfo),
``ecdsa-x509`` and ``rsa-x509`` (a PEM certificate chain, leaf first).  Signature methods:
``ecdsa`` (raw r‖s, DER accepted too), ``rsapss`` (SHA-256, MGF1-SHA-256, salt 32),
``rsapkcs1v15`` and ``eddsa``.  Every method hashes with SHA-256 except Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from trustbuild.notary import canonical
from trustbuild.notary.errors import MetadataError

KEY_TYPES = ("ed25519", "ecdsa", "rsa", "ecdsa-x509", "rsa-x509")
MIN_RSA_BITS = 2048
PSS_SALT_LENGTH = 32

MAX_VERIFIED = 4096
_VERIFIED: dict[tuple[str, str, str, bytes, bytes], bool] = {}
_VERIFIED_LOCK = threading.Lock()

PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def key_id(keytype: str, public_b64: str) -> str:
    """Notary's ``TUFKey.ID``: SHA-256 of the canonical key with ``private`` null."""
    body = {"keytype": keytype, "keyval": {"private": None, "public": public_b64}}
    return hashlib.sha256(canonical.encode(body)).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    keytype: str
    public_b64: str
    key: PublicKeyObject = field(repr=False, compare=False)
    certificates: tuple[x509.Certificate, ...] = field(default=(), repr=False, compare=False)

    @property
    def keyid(self) -> str:
        return key_id(self.keytype, self.public_b64)

    @property
    def is_certificate(self) -> bool:
        return self.keytype.endswith("-x509")

    @property
    def spki(self) -> bytes:
        """The underlying public key, to count two certificates over one key once."""
        return self.key.public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def canonical_id(self) -> str:
        """The ID docker and the notary CLI print: a certificate's key as a plain key."""
        if not self.is_certificate:
            return self.keyid
        plain = "ecdsa" if self.keytype == "ecdsa-x509" else "rsa"
        return key_id(plain, base64.b64encode(self.spki).decode())

    def verify(self, method: str, signature: bytes, message: bytes) -> bool:
        """True when *signature* by this key over *message* checks out with *method*.

        Each (key, method, message, signature) is checked once per process: the same
        metadata is re-read from the cache by every client and every update."""
        method = method.lower()
        memo_key = (self.keytype, self.public_b64, method,
                    hashlib.sha256(message).digest(), signature)
        known = _VERIFIED.get(memo_key)
        if known is None:
            try:
                known = _VERIFIERS.get(method, _unsupported)(self.key, signature, message)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                known = False
            with _VERIFIED_LOCK:
                if len(_VERIFIED) >= MAX_VERIFIED:
                    _VERIFIED.pop(next(iter(_VERIFIED)))
                _VERIFIED[memo_key] = known
        return known


def parse_key(obj: Any) -> PublicKey:
    if not isinstance(obj, dict) or not isinstance(obj.get("keyval"), dict):
        raise MetadataError("a key must be an object with keytype and keyval")
    keytype, public = obj.get("keytype"), obj["keyval"].get("public")
    if keytype not in KEY_TYPES:
        raise MetadataError(f"unsupported key type {keytype!r}")
    if not isinstance(public, str):
        raise MetadataError("a key's keyval.public must be a base64 string")
    try:
        data = base64.b64decode(public, validate=True)
    except binascii.Error:
        raise MetadataError(f"{keytype} key is not valid base64") from None
    try:
        return _decode(keytype, public, data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MetadataError(f"cannot read {keytype} key: {exc}") from None


def _decode(keytype: str, public: str, data: bytes) -> PublicKey:
    if keytype == "ed25519":
        return PublicKey(keytype, public, ed25519.Ed25519PublicKey.from_public_bytes(data))
    if keytype in ("ecdsa", "rsa"):
        key = serialization.load_der_public_key(data)
        return PublicKey(keytype, public, _checked(keytype, key))
    certs = tuple(x509.load_pem_x509_certificates(data))
    if not certs:
        raise MetadataError(f"{keytype} key holds no certificate")
    key = certs[0].public_key()
    return PublicKey(keytype, public, _checked(keytype.removesuffix("-x509"), key), certs)


def _checked(kind: str, key: object) -> PublicKeyObject:
    if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
        return key
    if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise MetadataError(f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
        return key
    raise MetadataError(f"key type {kind} does not match the key inside")


def _ecdsa(key: PublicKeyObject, sig: bytes, message: bytes) -> bool:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    size = (key.curve.key_size + 7) // 8
    if len(sig) == 2 * size:
        r = int.from_bytes(sig[:size], "big")
        s = int.from_bytes(sig[size:], "big")
        der = utils.encode_dss_signature(r, s)
    else:
        der = sig  # newer notary signers may write ASN.1 DER
    key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    return True


def _rsapss(key: PublicKeyObject, sig: bytes, message: bytes) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    key.verify(sig, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                         salt_length=PSS_SALT_LENGTH), hashes.SHA256())
    return True


def _rsapkcs1(key: PublicKeyObject, sig: bytes, message: bytes) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
    return True


def _eddsa(key: PublicKeyObject, sig: bytes, message: bytes) -> bool:
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return False
    key.verify(sig, message)
    return True


def _unsupported(key: PublicKeyObject, sig: bytes, message: bytes) -> bool:
    return False


_VERIFIERS = {"ecdsa": _ecdsa, "rsapss": _rsapss, "rsapkcs1v15": _rsapkcs1, "eddsa": _eddsa}
