"""notary.crypto reads keys exactly as cryptography's general DER parser does."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trustbuild._internal.notary import crypto
from trustbuild.errors import MetadataError

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ec_keys_read_like_the_general_parser(curve: ec.EllipticCurve) -> None:
    for _ in range(20):
        der = ec.generate_private_key(curve).public_key().public_bytes(*SPKI)
        key, general = crypto._load_spki(der), serialization.load_der_public_key(der)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(general, ec.EllipticCurvePublicKey)
        assert key.public_numbers() == general.public_numbers()
        facts = crypto.key_facts("ecdsa", base64.b64encode(der).decode())
        assert facts.spki_b64 == base64.b64encode(der).decode()


def test_other_encodings_go_to_the_general_parser() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = key.public_bytes(*SPKI)
    compressed_point = key.public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.CompressedPoint)
    for bad in (der + b"\x00", der[:-1], der[:26] + compressed_point):
        with pytest.raises(ValueError):
            serialization.load_der_public_key(bad)
        with pytest.raises(ValueError):
            crypto._load_spki(bad)
    rsa_der = rsa.generate_private_key(65537, 2048).public_key().public_bytes(*SPKI)
    assert isinstance(crypto._load_spki(rsa_der), rsa.RSAPublicKey)


def test_a_point_off_the_curve_is_refused() -> None:
    der = bytearray(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*SPKI))
    der[-1] ^= 1
    with pytest.raises(MetadataError):
        crypto.decode("ecdsa", base64.b64encode(bytes(der)).decode())

