"""notary.crypto: keys read by cryptography's own parsers, weak or mistyped keys refused."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from trustbuild._internal.notary import crypto
from trustbuild._internal.notary.keys import parse_key
from trustbuild.errors import MetadataError

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ec_keys_and_their_signatures(curve: ec.EllipticCurve) -> None:
    private = ec.generate_private_key(curve)
    der = private.public_key().public_bytes(*SPKI)
    material = crypto.read_key("ecdsa", b64(der))
    assert material.spki_b64 == b64(der) and material.certificate is None
    message = b'{"signed":1}'
    signature = private.sign(message, ec.ECDSA(hashes.SHA256()))
    assert crypto.verify(material, "ecdsa", signature, message)  # DER
    assert not crypto.verify(material, "ecdsa", signature, message + b" ")
    assert not crypto.verify(material, "rsapss", signature, message)


def test_keys_that_are_not_what_they_claim_are_refused() -> None:
    ec_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*SPKI)
    small_rsa = rsa.generate_private_key(65537, 1024).public_key().public_bytes(*SPKI)
    compressed = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    for keytype, data in (("rsa", ec_der), ("rsa", small_rsa), ("ecdsa", ec_der + b"\0"),
                          ("ecdsa", ec_der[:26] + compressed), ("ed25519", b"short")):
        with pytest.raises(MetadataError):
            crypto.read_key(keytype, b64(data))


def test_a_point_off_the_curve_is_refused() -> None:
    der = bytearray(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*SPKI))
    der[-1] ^= 1
    with pytest.raises(MetadataError):
        crypto.read_key("ecdsa", b64(bytes(der)))


@pytest.mark.parametrize("public", ["not base64!", "ÄÖÜ=", "٣٣٣٣"])
def test_key_text_that_is_not_base64_is_a_metadata_error(public: str) -> None:
    with pytest.raises(MetadataError, match="not valid base64"):
        parse_key({"keytype": "ed25519", "keyval": {"private": None, "public": public}})


def test_ed25519_keys_verify_eddsa_only() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    key = parse_key({"keytype": "ed25519", "keyval": {"private": None, "public": b64(raw)}})
    signature = private.sign(b"m")
    assert crypto.verify(key.material, "eddsa", signature, b"m")
    assert not crypto.verify(key.material, "ecdsa", signature, b"m")
