"""The registry client against a loopback registry (tests/registrysim.py): manifests, indexes
and configs read by digest and hash-checked, token auth with docker's credentials, size caps,
deadlines, redirects, loopback-only plain http, and the existence probe behind
``repository-not-found``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notarysim.server import TLSFiles
from tests.registrysim import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    RegistrySim,
    digest_of,
    image,
    index,
    serving,
)
from trustbuild._internal.dockerfile.platforms import Platform
from trustbuild._internal.notary.credentials import Credentials
from trustbuild._internal.notary.transport import Transport, TransportConfig
from trustbuild._internal.reference import ImageReference, parse_normalized
from trustbuild._internal.registry import (
    Existence,
    Index,
    Manifest,
    RegistryClient,
    choose,
    onbuild_of,
    parse_manifest,
    registry_host,
)
from trustbuild.errors import (
    AuthenticationError,
    HashMismatchError,
    NetworkError,
    NotFoundError,
    RegistryError,
    RequestTimeout,
    ResponseTooLarge,
)

AMD64 = ["linux/amd64"]


@pytest.fixture()
def sim() -> Iterator[RegistrySim]:
    with serving(RegistrySim()) as server:
        yield server


def client(tmp_path: Path, *, credentials: Credentials | None = None,
           **config: float) -> RegistryClient:
    transport = Transport(TransportConfig(docker_config=tmp_path / "docker", backoff=0.0,
                                          **config),  # type: ignore[arg-type]
                          credentials=lambda registry: credentials)
    return RegistryClient(transport)


def at(sim: RegistrySim, repository: str, digest: str):  # type: ignore[no-untyped-def]
    return parse_normalized(f"{sim.hostport}/{repository}@{digest}")


def test_triggers_of_a_manifest_by_digest(sim: RegistrySim, tmp_path: Path) -> None:
    digest = sim.push("tb/onb", image(["COPY --from=reg/other:1 / /x", "RUN make"]), "1")
    triggers = client(tmp_path).onbuild_triggers(at(sim, "tb/onb", digest), AMD64)
    assert triggers == ["COPY --from=reg/other:1 / /x", "RUN make"]
    # asked by digest, never by tag; the config blob by its digest
    assert f"/v2/tb/onb/manifests/{digest}" in sim.requests
    assert not any(r.endswith("/manifests/1") for r in sim.requests)


def test_no_triggers(sim: RegistrySim, tmp_path: Path) -> None:
    digest = sim.push("tb/plain", image(None))
    assert client(tmp_path).onbuild_triggers(at(sim, "tb/plain", digest), AMD64) == []


def test_an_index_gives_the_manifest_of_each_platform(sim: RegistrySim, tmp_path: Path) -> None:
    amd = image(["COPY --from=helper /a /a"], "amd64")
    arm = image(["COPY --from=armhelper /a /a"], "arm64", arch="arm64")
    body = index([(amd, "linux/amd64"), (arm, "linux/arm64/v8")])
    digest = sim.push_index("tb/multi", body, [amd, arm])
    registry = client(tmp_path)
    ref = at(sim, "tb/multi", digest)
    assert registry.onbuild_triggers(ref, ["linux/amd64"]) == ["COPY --from=helper /a /a"]
    assert registry.onbuild_triggers(ref, ["linux/arm64"]) == ["COPY --from=armhelper /a /a"]
    # several platforms: every trigger of each, once
    assert registry.onbuild_triggers(ref, ["linux/amd64", "linux/arm64"]) == [
        "COPY --from=helper /a /a", "COPY --from=armhelper /a /a"]
    with pytest.raises(RegistryError, match="no manifest for linux/s390x"):
        registry.onbuild_triggers(ref, ["linux/s390x"])


def test_a_manifest_whose_bytes_are_not_its_digest_is_refused(sim: RegistrySim,
                                                              tmp_path: Path) -> None:
    genuine = image(["RUN true"])
    digest = sim.push("tb/onb", genuine)
    forged = image(["COPY --from=evil/image:1 / /"])
    sim.tampered[digest] = forged.manifest  # a registry serving other content at the digest
    with pytest.raises(HashMismatchError, match="refusing"):
        client(tmp_path).onbuild_triggers(at(sim, "tb/onb", digest), AMD64)


def test_a_config_whose_bytes_are_not_its_digest_is_refused(sim: RegistrySim,
                                                            tmp_path: Path) -> None:
    genuine = image(["RUN true"])
    digest = sim.push("tb/onb", genuine)
    sim.tampered[digest_of(genuine.config)] = image(None).config  # triggers hidden
    with pytest.raises(HashMismatchError):
        client(tmp_path).onbuild_triggers(at(sim, "tb/onb", digest), AMD64)


def test_an_index_entry_is_hash_checked_too(sim: RegistrySim, tmp_path: Path) -> None:
    amd = image(["RUN true"])
    digest = sim.push_index("tb/multi", index([(amd, "linux/amd64")]), [amd])
    sim.tampered[amd.digest] = image(None).manifest
    with pytest.raises(HashMismatchError):
        client(tmp_path).onbuild_triggers(at(sim, "tb/multi", digest), AMD64)


def test_token_auth_with_docker_credentials(tmp_path: Path) -> None:
    with serving(RegistrySim(credentials=("alice", "s3cret"))) as sim:
        digest = sim.push("team/onb", image(["RUN true"]))
        good = client(tmp_path, credentials=Credentials("alice", "s3cret"))
        assert good.onbuild_triggers(at(sim, "team/onb", digest), AMD64) == ["RUN true"]
        # docker's scope: the repository's path on the registry, pull only
        assert sim.scopes and set(sim.scopes) == {"repository:team/onb:pull"}
        bad = client(tmp_path, credentials=Credentials("alice", "wrong"))
        with pytest.raises(AuthenticationError):
            bad.onbuild_triggers(at(sim, "team/onb", digest), AMD64)
        assert "s3cret" not in repr(good) and "s3cret" not in repr(good.transport)


def test_blob_redirects_are_followed_without_credentials(tmp_path: Path) -> None:
    with serving(RegistrySim()) as storage, \
            serving(RegistrySim(credentials=("alice", "s3cret"))) as sim:
        entry = image(["RUN true"])
        digest = sim.push("team/onb", entry)
        storage.blobs[digest_of(entry.config)] = entry.config
        sim.redirect_blobs_to = storage.url
        registry = client(tmp_path, credentials=Credentials("alice", "s3cret"))
        assert registry.onbuild_triggers(at(sim, "team/onb", digest), AMD64) == ["RUN true"]
        assert storage.requests == [f"/_blob/{digest_of(entry.config)}"]


def test_oversize_manifest(sim: RegistrySim, tmp_path: Path) -> None:
    big = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                      "config": {"digest": "sha256:" + "0" * 64, "size": 1},
                      "padding": "x" * (5 * 1024 * 1024)}).encode()
    sim.repositories.add("tb/big")
    sim.manifests[("tb/big", digest_of(big))] = (big, DOCKER_MANIFEST)
    with pytest.raises(ResponseTooLarge):
        client(tmp_path).onbuild_triggers(at(sim, "tb/big", digest_of(big)), AMD64)


def test_deadline(sim: RegistrySim, tmp_path: Path) -> None:
    digest = sim.push("tb/slow", image(None))
    registry = client(tmp_path)
    registry.onbuild_triggers(at(sim, "tb/slow", digest), AMD64)  # the scheme is known
    sim.delay = 5.0
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        registry.onbuild_triggers(at(sim, "tb/slow", digest), AMD64,
                                  deadline=time.monotonic() + 1.0)
    assert time.monotonic() - started < 3.0


def test_missing_manifest(sim: RegistrySim, tmp_path: Path) -> None:
    sim.repositories.add("tb/empty")
    with pytest.raises(NotFoundError, match="MANIFEST_UNKNOWN"):
        client(tmp_path).onbuild_triggers(at(sim, "tb/empty", "sha256:" + "1" * 64), AMD64)


def test_https_first_for_a_loopback_registry(tls: TLSFiles, tmp_path: Path) -> None:
    """A loopback registry that speaks TLS is read over https, verified with the CA in
    $DOCKER_CONFIG/tls/<host:port>; plain http only when https cannot be spoken to it."""
    with serving(RegistrySim(tls=tls)) as sim:
        ca = tmp_path / "docker" / "tls" / sim.hostport
        ca.mkdir(parents=True)
        (ca / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
        digest = sim.push("tb/onb", image(["RUN true"]))
        registry = client(tmp_path)
        assert registry.onbuild_triggers(at(sim, "tb/onb", digest), AMD64) == ["RUN true"]
        assert registry._schemes == {sim.hostport: "https"}


def test_plain_http_only_to_loopback(tmp_path: Path) -> None:
    transport = Transport(TransportConfig(docker_config=tmp_path))
    with pytest.raises(NetworkError, match="loopback"):
        transport.fetch("http://registry.example:5000/v2/", max_length=10, scope="",
                        registry="registry.example:5000")
    with pytest.raises(NetworkError, match="refusing to fetch trust data over http"):
        transport.get("http://127.0.0.1:1/v2/", max_length=10, scope="", registry="x")


def test_existence(sim: RegistrySim, tmp_path: Path) -> None:
    sim.push("tb/real", image(None), "1")
    registry = client(tmp_path)
    assert registry.existence(parse_normalized(f"{sim.hostport}/tb/real:1")) is Existence.FOUND
    assert registry.existence(parse_normalized(f"{sim.hostport}/tb/real:2")) is \
        Existence.NO_TAG
    assert registry.existence(parse_normalized(f"{sim.hostport}/tb/reall:1")) is \
        Existence.NO_REPOSITORY


def test_existence_is_unknown_unless_the_registry_says(tmp_path: Path) -> None:
    with serving(RegistrySim(credentials=("alice", "s3cret"))) as sim:
        # a registry that wants credentials we do not have says nothing either way
        ref = parse_normalized(f"{sim.hostport}/tb/x:1")
        assert client(tmp_path).existence(ref) is Existence.UNKNOWN
    # nothing listening
    assert client(tmp_path).existence(ref, timeout=2.0) is Existence.UNKNOWN


# -- pure parts ------------------------------------------------------------------------------------

def test_registry_host() -> None:
    assert registry_host("docker.io") == "registry-1.docker.io"
    assert registry_host("reg.example:5000") == "reg.example:5000"


def test_parse_manifest_types() -> None:
    oci = image(["RUN x"], media_type=OCI_MANIFEST)
    parsed = parse_manifest(oci.manifest, "", "m")
    assert isinstance(parsed, Manifest) and parsed.config.digest == digest_of(oci.config)
    bare = json.loads(oci.manifest)
    del bare["mediaType"]  # OCI allows leaving it out: the fields say which it is
    assert isinstance(parse_manifest(json.dumps(bare).encode(), "", "m"), Manifest)
    assert isinstance(parse_manifest(index([(oci, "linux/amd64")]), "", "i"), Index)
    with pytest.raises(RegistryError, match="the document says"):
        parse_manifest(oci.manifest, DOCKER_MANIFEST, "m")
    with pytest.raises(RegistryError, match="unsupported manifest type"):
        parse_manifest(b'{"mediaType": "application/vnd.docker.distribution.manifest.v1+'
                       b'prettyjws"}', "", "m")
    with pytest.raises(RegistryError, match="not JSON"):
        parse_manifest(b"<html>", "", "m")


def test_choose_platform() -> None:
    a, b, c = image(None, "a"), image(None, "b"), image(None, "c")
    parsed = parse_manifest(index([(a, "linux/arm/v6"), (b, "linux/arm/v7"),
                                   (c, "linux/arm64")]), "", "i")
    assert isinstance(parsed, Index)
    assert choose(parsed, Platform("linux", "arm", "v7"), "i").digest == b.digest
    assert choose(parsed, Platform("linux", "arm", ""), "i").digest == b.digest  # v7 default
    assert choose(parsed, Platform("linux", "arm64", "v8"), "i").digest == c.digest
    attestation = json.loads(index([(a, "linux/amd64")]))
    attestation["manifests"][0]["platform"] = {"os": "unknown", "architecture": "unknown"}
    only = parse_manifest(json.dumps(attestation).encode(), "", "i")
    assert isinstance(only, Index)
    with pytest.raises(RegistryError, match="no manifest"):
        choose(only, Platform("linux", "amd64"), "i")


def test_onbuild_of() -> None:
    assert onbuild_of(b'{"config": {"OnBuild": null}}', "c") == []
    assert onbuild_of(b'{"config": {}}', "c") == []
    assert onbuild_of(b'{}', "c") == []
    assert onbuild_of(b'{"config": {"OnBuild": ["RUN a"]}}', "c") == ["RUN a"]
    with pytest.raises(RegistryError):
        onbuild_of(b'{"config": {"OnBuild": "RUN a"}}', "c")


def test_an_allowed_images_triggers_are_read_at_its_tag(sim: RegistrySim,
                                                        tmp_path: Path) -> None:
    """Only for a base a policy exception lets through unverified: by tag, the manifest has
    no digest to check, but its config is still fetched by digest and hash-checked."""
    sim.push("tb/vendor", image(["RUN make"]), "7")
    by_digest = at(sim, "tb/vendor", "sha256:" + "0" * 64)
    tagged = ImageReference(by_digest.domain, by_digest.path, "7", None)
    assert client(tmp_path).onbuild_triggers(tagged, AMD64) == ["RUN make"]
    assert "/v2/tb/vendor/manifests/7" in sim.requests
