"""Verifier cases a review found: certificates cryptography cannot fully read, delegation
paths, tag names, expiry digits, and a tag signed only below targets/releases.  Each failed
before (a traceback, or an answer docker would not give)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from tests.conftest import Client
from tests.notarysim.keys import SimKey
from tests.notarysim.published import DIGEST, OTHER, REGISTRY, ref, repo
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild.errors import TrustError


def _bad_cert_key(common_name: str, kind: str) -> SimKey:
    """An ecdsa-x509 key whose certificate loads, but whose extensions or signature algorithm
    cryptography cannot read."""
    private = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(private.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(hours=1))
               .not_valid_after(now + timedelta(days=3650)))
    if kind == "bad-extension":
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\xff\x01"),
            critical=True)
    cert = builder.sign(private, hashes.SHA256())
    der = cert.public_bytes(serialization.Encoding.DER)
    if kind == "unknown-sigalg":
        ecdsa_sha256 = bytes.fromhex("06082a8648ce3d040302")
        assert der.count(ecdsa_sha256) == 2
        der = der.replace(ecdsa_sha256, bytes.fromhex("06082a8648ce3d040309"))
        cert = x509.load_der_x509_certificate(der)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return SimKey("ecdsa-x509", private, base64.b64encode(pem).decode(), "ecdsa")


@pytest.mark.parametrize("kind", ["bad-extension", "unknown-sigalg"])
def test_an_unreadable_root_certificate_fails_that_repository_only(sim: SimServer, client: Client,
                                                        kind: str) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/badroot-{kind}"))
    r.keys["root"] = [_bad_cert_key(r.gun, kind)]
    r.sign_tag("1", DIGEST)
    r.publish()
    good = repo(sim, f"good-{kind}")
    results = client().resolve_many([ref(r), ref(good)])
    assert isinstance(results[ref(r)], TrustError), results[ref(r)]
    answer = results[ref(good)]
    assert not isinstance(answer, TrustError) and answer.digest == f"sha256:{DIGEST}"


@pytest.mark.parametrize("kind", ["bad-extension", "unknown-sigalg"])
def test_an_unreadable_delegation_certificate_is_a_trust_error(sim: SimServer, client: Client,
                                                 kind: str) -> None:
    r = repo(sim, f"baddeleg-{kind}")
    d = r.delegate("targets/releases")
    d.keys = [_bad_cert_key("releases", kind)]
    r.sign_tag("1", OTHER, role="targets/releases")
    r.publish()
    with pytest.raises(TrustError):
        client().resolve(ref(r))


@pytest.mark.parametrize("kind", ["bad-extension"])
def test_an_unreadable_certificate_in_a_rotation_root_is_a_trust_error(
        sim: SimServer, client: Client, kind: str) -> None:
    """A client with a cached root: the server makes a timestamp signature fail, then serves
    a root.json holding an unreadable certificate (no key needed)."""
    r = repo(sim, f"rot-{kind}")
    assert client().resolve(ref(r)).digest == f"sha256:{DIGEST}"
    doc = json.loads(r.files["root.json"])
    bad = _bad_cert_key(r.gun, kind)
    doc["signed"]["keys"][bad.keyid] = bad.to_json()
    doc["signed"]["roles"]["root"]["keyids"].append(bad.keyid)
    r.files["root.json"] = json.dumps(doc).encode()
    ts = json.loads(r.files["timestamp.json"])
    ts["signatures"][0]["sig"] = base64.b64encode(b"\0" * 64).decode()
    r.files["timestamp.json"] = json.dumps(ts).encode()
    with pytest.raises(TrustError):
        client().resolve(ref(r))


# -- answers docker would give -------------------------------------------------------------

def test_a_releases_tag_outside_its_paths_does_not_stop_a_digest_reference(sim: SimServer,
                                                                    client: Client) -> None:
    """releases may sign only "v…"; it also lists "a" (outside its paths, ignored).  A digest
    reference for the signed v1 digest resolves."""
    r = repo(sim, "digest-paths")
    r.delegate("targets/releases", paths=["v"])
    r.sign_tag("a", DIGEST, role="targets/releases")
    r.sign_tag("v1", OTHER, role="targets/releases")
    r.publish()
    c = client()
    assert c.resolve(ref(r, "v1")).digest == f"sha256:{OTHER}"
    hit = c.resolve(f"{r.gun}@sha256:{OTHER}")
    assert hit.digest == f"sha256:{OTHER}"


def test_tags_differing_only_in_case_are_two_tags(sim: SimServer, client: Client) -> None:
    """docker allows tags v1 and V1 side by side: map keys are compared exactly (only field
    names must differ beyond case)."""
    r = repo(sim, "case-tags")
    r.sign_tag("v1", DIGEST)
    r.sign_tag("V1", OTHER)
    r.publish()
    c = client()
    assert c.resolve(ref(r, "v1")).digest == f"sha256:{DIGEST}"
    assert c.resolve(ref(r, "V1")).digest == f"sha256:{OTHER}"


def test_expires_takes_ascii_digits_only() -> None:
    """Go's time.Parse (RFC 3339) takes ASCII digits only; re's \\d takes any Nd digit."""
    from trustbuild._internal.notary.metadata import parse_expires
    from trustbuild.errors import MetadataError
    with pytest.raises(MetadataError):
        parse_expires("\u0662\u0660\u0669\u0669-01-01T00:00:00Z", "targets")


def test_a_tag_signed_only_below_releases_is_refused_as_docker_does(sim: SimServer,
                                                          client: Client) -> None:
    """docker: GetTargetByName(tag, releases, targets) walks releases' subtree first and finds
    the tag in targets/releases/foo, then refuses it (role not releases/targets), rather than
    answer from targets."""
    r = repo(sim, "releases-child")  # "1" -> DIGEST in targets
    r.delegate("targets/releases")
    r.delegate("targets/releases/foo")
    r.sign_tag("1", OTHER, role="targets/releases/foo")
    r.publish()
    with pytest.raises(TrustError) as caught:
        client().resolve(ref(r))
    assert "targets/releases/foo" in str(caught.value)
