"""Everything that needs ``cryptography``: reading keys and certificates, checking signatures.

Key types: ``ed25519`` (raw 32 bytes), ``ecdsa`` and ``rsa`` (DER SubjectPublicKeyInfo),
``ecdsa-x509`` and ``rsa-x509`` (a PEM certificate chain, leaf first).  Signature methods:
``ecdsa`` (raw r‖s, DER accepted too), ``rsapss`` (SHA-256, MGF1-SHA-256, salt 32),
``rsapkcs1v15`` and ``eddsa``.  Every method hashes with SHA-256 except Ed25519.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

from trustbuild.errors import MetadataError

MIN_RSA_BITS = 2048
PSS_SALT_LENGTH = 32

PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A root certificate key as notary's root checks see it (``trustpinning.ValidateRoot``),
    all but the clock."""

    common_name: str
    bundle_problem: str | None  # not exactly one non-CA certificate, first
    signature_problem: str | None  # SHA-1, a short RSA key, an empty validity period
    not_before: datetime
    not_after: datetime
    reencoded_b64: str  # the chain as Go writes PEM (notary recomputes key IDs from it)


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """A key read once: the key object, its certificate chain, and what is checked of them."""

    key: PublicKeyObject = field(repr=False)
    certificates: tuple[x509.Certificate, ...] = field(repr=False)
    spki_b64: str  # the public key itself: two keys over one public key count once
    certificate: CertificateInfo | None


def read_key(keytype: str, public_b64: str) -> KeyMaterial:
    """The key of a metadata key entry; :class:`MetadataError` when it is unreadable, weak or
    not of its type."""
    try:
        key, certs = _decode(keytype, base64.b64decode(public_b64))
        # reading a certificate's extensions and signature algorithm parses more of it
        info = _certificate_info(certs) if certs else None
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
        raise MetadataError(f"cannot read {keytype} key: {exc}") from None
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyMaterial(key, certs, base64.b64encode(spki).decode(), info)


def _decode(keytype: str, data: bytes) -> tuple[PublicKeyObject, tuple[x509.Certificate, ...]]:
    if keytype == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(data), ()
    if keytype in ("ecdsa", "rsa"):
        return _checked(keytype, serialization.load_der_public_key(data)), ()
    certs = tuple(x509.load_pem_x509_certificates(data))
    if not certs:
        raise MetadataError(f"{keytype} key holds no certificate")
    return _checked(keytype.removesuffix("-x509"), certs[0].public_key()), certs


def _checked(kind: str, key: object) -> PublicKeyObject:
    if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
        return key
    if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise MetadataError(f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
        return key
    raise MetadataError(f"key type {kind} does not match the key inside")


def _certificate_info(chain: tuple[x509.Certificate, ...]) -> CertificateInfo:
    leaf, *intermediates = chain
    names = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    bundle = None
    if _is_ca(leaf) or any(not _is_ca(c) for c in intermediates):
        bundle = "the bundle must hold exactly one non-CA certificate, first"
    signature = None
    public = leaf.public_key()
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if isinstance(leaf.signature_hash_algorithm, hashes.SHA1):
        signature = "certificate signed with SHA-1"
    elif isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
        signature = f"RSA key of {public.key_size} bits"
    elif not_before > not_after:
        signature = "certificate validity period is empty"
    # Key IDs are recomputed from the chain re-encoded the way Go writes PEM, as notary does.
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return CertificateInfo(str(names[0]) if names else "", bundle, signature, not_before,
                           not_after, base64.b64encode(pem).decode())


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def verify(material: KeyMaterial, method: str, signature: bytes, message: bytes) -> bool:
    """True when *signature* by the key over *message* checks out with *method*."""
    try:
        return _VERIFIERS.get(method, _unsupported)(material.key, signature, message)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


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
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
    key.verify(sig, message, pss, hashes.SHA256())
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
