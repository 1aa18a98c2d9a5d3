"""Signing keys for the simulator: every Notary key type, signed the way notary signs."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
METHODS = {"ed25519": "eddsa", "ecdsa": "ecdsa", "ecdsa-x509": "ecdsa", "rsa": "rsapss",
           "rsa-x509": "rsapss"}


def canonical(obj: object) -> bytes:
    """Good enough for the simulator's own documents (no control characters, ints only)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class SimKey:
    keytype: str
    private: PrivateKey = field(repr=False)
    public_b64: str
    method: str
    der_signatures: bool = False  # ecdsa: ASN.1 DER instead of raw r||s

    @property
    def keyid(self) -> str:
        return hashlib.sha256(canonical(self.to_json())).hexdigest()

    def to_json(self) -> dict[str, object]:
        return {"keytype": self.keytype, "keyval": {"private": None, "public": self.public_b64}}

    def sign(self, message: bytes) -> bytes:
        key = self.private
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            der = key.sign(message, ec.ECDSA(hashes.SHA256()))
            if self.der_signatures:
                return der
            r, s = utils.decode_dss_signature(der)
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if self.method == "rsapkcs1v15":
            return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                        hashes.SHA256())

    def signature(self, message: bytes) -> dict[str, str]:
        return {"keyid": self.keyid, "method": self.method,
                "sig": base64.b64encode(self.sign(message)).decode()}


def make_key(keytype: str, *, common_name: str = "signer",
             not_before: datetime | None = None, not_after: datetime | None = None,
             rsa_bits: int = 2048) -> SimKey:
    private: PrivateKey
    if keytype == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)
        return SimKey(keytype, private, base64.b64encode(raw).decode(), "eddsa")
    if keytype.startswith("ecdsa"):
        private = ec.generate_private_key(ec.SECP256R1())
    elif keytype.startswith("rsa"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        raise ValueError(keytype)
    if keytype.endswith("-x509"):
        pem = certificate(private, common_name, not_before, not_after).public_bytes(
            serialization.Encoding.PEM)
        return SimKey(keytype, private, base64.b64encode(pem).decode(), METHODS[keytype])
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return SimKey(keytype, private, base64.b64encode(der).decode(), METHODS[keytype])


def certificate(private: PrivateKey, common_name: str, not_before: datetime | None = None,
                not_after: datetime | None = None) -> x509.Certificate:
    """A self-signed certificate like the ones notary makes for root keys."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(private.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - timedelta(hours=1))
               .not_valid_after(not_after or now + timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]),
                              critical=False))
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private, algorithm)
