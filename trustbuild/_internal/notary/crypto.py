"""Everything that needs ``cryptography``: reading keys and certificates, checking signatures.

Imported only when a key or a signature has not been seen before (see ``facts``): loading
``cryptography`` and its X.509 support takes about 35 ms, longer than a warm check's network
round trips.

Key types: ``ed25519`` (raw 32 bytes), ``ecdsa`` and ``rsa`` (DER SubjectPublicKeyInfo),
``ecdsa-x509`` and ``rsa-x509`` (a PEM certificate chain, leaf first).  Signature methods:
``ecdsa`` (raw r‖s, DER accepted too), ``rsapss`` (SHA-256, MGF1-SHA-256, salt 32),
``rsapkcs1v15`` and ``eddsa``.  Every method hashes with SHA-256 except Ed25519.
"""

from __future__ import annotations

import base64
import threading

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

# The public ``serialization`` package also loads SSH key support (dataclasses, ciphers):
# 11-15 ms of a first run.  Its enums live in a module that x509 has loaded already.
try:
    from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
except ImportError:  # pragma: no cover - a cryptography that moved them
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from trustbuild._internal.notary.facts import CertificateFacts, KeyFacts
from trustbuild.errors import MetadataError

MIN_RSA_BITS = 2048
PSS_SALT_LENGTH = 32

PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

# SubjectPublicKeyInfo of an uncompressed point on the curves notary generates keys on: the
# DER is this prefix and the point, nothing else, so no general parser is needed for it.
_EC_SPKI_PREFIXES = {
    bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"): ec.SECP256R1(),
    bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"): ec.SECP384R1(),
}

# Made once, here: the first ECDSA object loads cryptography's OpenSSL backend (about 5 ms),
# which then happens with the import, while a batch of requests is out (see client).
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PSS_SHA256 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)

_DECODED: dict[tuple[str, str], tuple[PublicKeyObject, tuple[x509.Certificate, ...]]] = {}
_DECODED_LOCK = threading.Lock()
MAX_DECODED = 4096


def decode(keytype: str, public_b64: str) -> tuple[PublicKeyObject, tuple[x509.Certificate, ...]]:
    """The key object and, for certificate types, the chain; :class:`MetadataError` when the
    key is unreadable or weak."""
    memo = (keytype, public_b64)
    known = _DECODED.get(memo)
    if known is not None:
        return known
    data = base64.b64decode(public_b64)
    try:
        known = _decode(keytype, data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MetadataError(f"cannot read {keytype} key: {exc}") from None
    with _DECODED_LOCK:
        if len(_DECODED) >= MAX_DECODED:
            _DECODED.pop(next(iter(_DECODED)))
        _DECODED[memo] = known
    return known


def _decode(keytype: str, data: bytes) -> tuple[PublicKeyObject, tuple[x509.Certificate, ...]]:
    if keytype == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(data), ()
    if keytype in ("ecdsa", "rsa"):
        return _checked(keytype, _load_spki(data)), ()
    certs = tuple(x509.load_pem_x509_certificates(data))
    if not certs:
        raise MetadataError(f"{keytype} key holds no certificate")
    return _checked(keytype.removesuffix("-x509"), certs[0].public_key()), certs


def _load_spki(data: bytes) -> object:
    for prefix, curve in _EC_SPKI_PREFIXES.items():
        point = data[len(prefix):]
        if data.startswith(prefix) and len(point) == 2 * ((curve.key_size + 7) // 8) + 1 \
                and point[0] == 4:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_public_key(data)


def _checked(kind: str, key: object) -> PublicKeyObject:
    if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
        return key
    if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise MetadataError(f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
        return key
    raise MetadataError(f"key type {kind} does not match the key inside")


def key_facts(keytype: str, public_b64: str) -> KeyFacts:
    """What later runs need to know about a key without reading it again."""
    key, certs = decode(keytype, public_b64)
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return KeyFacts(base64.b64encode(spki).decode(),
                    _certificate_facts(certs) if certs else None)


def _certificate_facts(chain: tuple[x509.Certificate, ...]) -> CertificateFacts:
    """notary's checks of a root certificate (``trustpinning.ValidateRoot``), all but the
    clock."""
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
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain)
    return CertificateFacts(str(names[0]) if names else "", bundle, signature, not_before,
                            not_after, base64.b64encode(pem).decode())


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def certificates(keytype: str, public_b64: str) -> tuple[x509.Certificate, ...]:
    return decode(keytype, public_b64)[1]


def verify(keytype: str, public_b64: str, method: str, signature: bytes,
           message: bytes) -> bool:
    """True when *signature* by the key over *message* checks out with *method*."""
    key, _ = decode(keytype, public_b64)
    try:
        return _VERIFIERS.get(method, _unsupported)(key, signature, message)
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
    key.verify(der, message, _ECDSA_SHA256)
    return True


def _rsapss(key: PublicKeyObject, sig: bytes, message: bytes) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    key.verify(sig, message, _PSS_SHA256, hashes.SHA256())
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
