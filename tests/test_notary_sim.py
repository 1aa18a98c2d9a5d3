"""The Notary client against the simulator: one test per attack and fault."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Client
from tests.notarysim.keys import SimKey, make_key
from tests.notarysim.published import DIGEST, OTHER, REGISTRY, ref, repo
from tests.notarysim.repo import SimRepo, file_meta, go_time
from tests.notarysim.server import Fault, SimServer
from tests.stack.services import ensure_packages
from trustbuild._internal.notary.client import TrustClient
from trustbuild.errors import (
    AuthenticationError,
    ExpiredError,
    HashMismatchError,
    MetadataError,
    NetworkError,
    NoTrustData,
    OfflineError,
    RequestTimeout,
    ResponseTooLarge,
    RollbackError,
    RootError,
    ServerError,
    SignatureError,
    TLSError,
    TrustError,
)

# -- formats --------------------------------------------------------------------------------

KEY_TYPES = [("ecdsa-x509", "ecdsa", "ed25519"), ("rsa-x509", "rsa", "ecdsa"),
             ("ecdsa-x509", "ed25519", "rsa"), ("rsa-x509", "ecdsa-x509", "ecdsa"),
             ("ecdsa-x509", "rsa-x509", "ed25519")]


@pytest.mark.parametrize(("root_type", "targets_type", "server_type"), KEY_TYPES)
def test_every_key_type_and_method(sim: SimServer, client: Client, root_type: str,
                                   targets_type: str, server_type: str) -> None:
    r = repo(sim, root_type=root_type, targets_type=targets_type,
             snapshot_type=server_type, timestamp_type=server_type)
    r.delegate("targets/releases", keytype=targets_type)
    r.sign_tag("2", OTHER, role="targets/releases")
    r.publish()
    c = client()
    assert c.resolve(ref(r)).digest == f"sha256:{DIGEST}"
    got = c.resolve(ref(r, "2"))
    assert (got.digest, got.role, got.size) == (f"sha256:{OTHER}", "targets/releases", 527)


def test_ecdsa_signatures_in_der_are_accepted(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/der"))
    r.keys["targets"][0].der_signatures = True
    r.sign_tag("1", DIGEST)
    r.publish()
    assert client().resolve(ref(r)).role == "targets"


def test_real_notary_cli_accepts_the_simulator(sim: SimServer, tls: Any, tmp_path: Path) -> None:
    """The simulator writes the real format: the Go notary client verifies it."""
    ensure_packages()
    r = repo(sim, root_type="rsa-x509", targets_type="ecdsa")
    r.delegate("targets/releases", keytype="rsa-x509")
    r.sign_tag("2", OTHER, role="targets/releases")
    r.publish()
    out = subprocess.run(["notary", "-s", sim.url, "-d", str(tmp_path / "trust"),
                          "--tlscacert", str(tls.ca_cert), "lookup", r.gun, "2"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:3] == ["2", f"sha256:{OTHER}", "527"]


def test_cache_layout_is_shared_with_the_notary_cli(sim: SimServer, client: Client,
                                                   config: Path, tls: Any) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    ensure_packages()
    # The notary CLI, pointed at a dead server, answers from what trustbuild cached.
    out = subprocess.run(["notary", "-s", "https://127.0.0.1:9", "-d", str(config / "trust"),
                          "--tlscacert", str(tls.ca_cert), "lookup", r.gun, "1"],
                         capture_output=True, text=True, check=False)
    assert out.stdout.split()[:2] == ["1", f"sha256:{DIGEST}"], out.stderr


# -- resolution rule --------------------------------------------------------------------------

def test_releases_wins_over_targets(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    r.delegate("targets/releases")
    r.sign_tag("1", OTHER, role="targets/releases")
    r.publish()
    assert client().resolve(ref(r)).digest == f"sha256:{OTHER}"


def test_other_delegation_only_is_no_trust_data(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    r.delegate("targets/qa")
    r.sign_tag("qa-only", OTHER, role="targets/qa")
    r.publish()
    with pytest.raises(NoTrustData, match="No trust data for qa-only"):
        client().resolve(ref(r, "qa-only"))


def test_unknown_repository_is_no_trust_data(sim: SimServer, client: Client) -> None:
    with pytest.raises(NoTrustData) as caught:
        client().resolve(f"{REGISTRY}/missing:3")
    text = str(caught.value)
    assert "No trust data for 3" in text and f"{REGISTRY}/missing" in text
    assert sim.hostport in text


def test_absent_tag_is_no_trust_data(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    with pytest.raises(NoTrustData, match="No trust data for 2"):
        client().resolve(ref(r, "2"))


def test_untagged_reference_means_latest(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    r.sign_tag("latest", OTHER)
    r.publish()
    assert client().resolve(r.gun).digest == f"sha256:{OTHER}"


def test_digest_references_must_be_signed(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    c = client()
    got = c.resolve(f"{r.gun}@sha256:{DIGEST}")
    assert (got.tag, got.role) == ("1", "targets")
    assert c.resolve(f"{r.gun}:1@sha256:{DIGEST}").digest == f"sha256:{DIGEST}"
    with pytest.raises(NoTrustData, match="no signed tag has this digest"):
        c.resolve(f"{r.gun}@sha256:{OTHER}")
    with pytest.raises(NoTrustData, match="the digest signed for 1 is"):
        c.resolve(f"{r.gun}:1@sha256:{OTHER}")


def test_delegation_paths_that_do_not_cover_the_tag(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    r.delegate("targets/releases", paths=["v"])
    r.sign_tag("2", OTHER, role="targets/releases")
    r.sign_tag("v2", OTHER, role="targets/releases")
    r.publish()
    c = client()
    with pytest.raises(NoTrustData):
        c.resolve(ref(r, "2"))
    assert c.resolve(ref(r, "v2")).role == "targets/releases"


def test_releases_with_no_keys_is_an_error_not_a_fallback(sim: SimServer,
                                                          client: Client) -> None:
    r = repo(sim)
    d = r.delegate("targets/releases")
    d.listed_keyids = []
    r.sign_tag("1", OTHER, role="targets/releases")
    r.publish()
    with pytest.raises(SignatureError, match="has no keys"):
        client().resolve(ref(r))


def test_expired_releases_is_an_error_not_a_fallback(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    r.delegate("targets/releases")
    r.expires["targets/releases"] = datetime.now(UTC) - timedelta(minutes=1)
    r.publish()
    with pytest.raises(ExpiredError, match="targets/releases expired at"):
        client().resolve(ref(r))


# -- signatures and keys ------------------------------------------------------------------------

def _impostor(key: SimKey) -> SimKey:
    """Claims *key*'s key ID but signs with another private key."""
    other = make_key(key.keytype)
    return replace(other, public_b64=key.public_b64)


@pytest.mark.parametrize("role", ["root", "targets", "snapshot", "timestamp"])
def test_bad_signature(sim: SimServer, client: Client, role: str) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/badsig-{role}"))
    r.signers[role] = [_impostor(r.keys[role][0])]
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises((SignatureError, RootError)):
        client().resolve(ref(r))


def test_threshold_not_met(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/threshold"))
    r.keys["targets"].append(make_key("ecdsa"))
    r.thresholds["targets"] = 2
    r.signers["targets"] = r.keys["targets"][:1]
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises(SignatureError, match="did not meet threshold for targets"):
        client().resolve(ref(r))


def test_same_key_twice_counts_once(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/twice"))
    key = r.keys["targets"][0]
    # The same public key also listed under a second (certificate) key ID.
    cert_twin = make_key("ecdsa-x509")
    cert_twin = replace(cert_twin, private=key.private)
    from cryptography.hazmat.primitives import serialization

    from tests.notarysim.keys import certificate

    pem = certificate(key.private, "twin").public_bytes(serialization.Encoding.PEM)
    cert_twin = replace(cert_twin, public_b64=base64.b64encode(pem).decode())
    r.keys["targets"] = [key, cert_twin]
    r.thresholds["targets"] = 2
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises(SignatureError, match="did not meet threshold"):
        client().resolve(ref(r))


def test_key_id_that_does_not_match_its_key(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/badkeyid"))
    real = r.keys["targets"][0].keyid
    fake = "f" * 64

    def rename(signed: dict[str, Any]) -> None:
        signed["keys"][fake] = signed["keys"].pop(real)
        signed["roles"]["targets"]["keyids"] = [fake]

    r.tamper["root"] = rename
    original = r.keys["targets"][0]

    class Renamed(SimKey):
        @property
        def keyid(self) -> str:
            return fake

    r.signers["targets"] = [Renamed(original.keytype, original.private, original.public_b64,
                                    original.method)]
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises(SignatureError, match="not valid for its key content"):
        client().resolve(ref(r))


# -- root certificates and rotation --------------------------------------------------------------

def test_root_certificate_with_wrong_common_name(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/wrongcn"))
    r.replace_root_key(make_key("ecdsa-x509", common_name=f"{REGISTRY}/someone-else"))
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises(RootError, match="common name"):
        client().resolve(ref(r))


def test_expired_root_certificate(sim: SimServer, client: Client) -> None:
    gun = f"{REGISTRY}/oldcert"
    r = sim.add(SimRepo(gun))
    past = datetime.now(UTC) - timedelta(days=1)
    r.replace_root_key(make_key("ecdsa-x509", common_name=gun,
                                not_before=past - timedelta(days=30), not_after=past))
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises(RootError, match="certificate expired"):
        client().resolve(ref(r))


def test_valid_root_rotation_after_caching(sim: SimServer, client: Client,
                                           config: Path) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    for _ in range(2):  # v1 -> v3: the client walks 2.root.json
        r.rotate_root()
        r.publish()
    sim.log.clear()
    assert client().resolve(ref(r)).digest == f"sha256:{DIGEST}"
    assert "2.root.json" in sim.requests_for(r.gun)
    cached = json.loads((config / "trust/tuf" / r.gun / "metadata/root.json").read_bytes())
    assert cached["signed"]["version"] == 3


def test_rotation_not_signed_by_the_old_root_is_refused(sim: SimServer,
                                                        client: Client) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    r.rotate_root(signed_by_old=False)
    r.publish()
    with pytest.raises(RootError, match="could not rotate trust"):
        client().resolve(ref(r))


# -- rollback, freshness, mix-and-match ---------------------------------------------------------

def _resign(r: SimRepo, role: str, body: dict[str, Any]) -> bytes:
    return r.sign(role, body, r.keys[role])


def test_timestamp_rollback(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    old = dict(r.files)
    r.publish()
    client().resolve(ref(r))
    r.files = old
    with pytest.raises(RollbackError, match="timestamp version 1 is lower than version 2"):
        client().resolve(ref(r))


def test_snapshot_rollback(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    old_snapshot = r.files["snapshot.json"]
    r.publish()
    client().resolve(ref(r))
    r.files = {**r.files, "timestamp.json": _resign(r, "timestamp", {
        "_type": "Timestamp", "expires": go_time(r.expiry("timestamp")),
        "meta": {"snapshot": file_meta(old_snapshot)}, "version": 10})}
    r.files[f"snapshot.{hashlib.sha256(old_snapshot).hexdigest()}.json"] = old_snapshot
    with pytest.raises(RollbackError, match="snapshot version 1 is lower than version 2"):
        client().resolve(ref(r))


def test_targets_rollback(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    old_targets = r.files["targets.json"]
    r.publish()
    client().resolve(ref(r))
    snapshot = _resign(r, "snapshot", {
        "_type": "Snapshot", "expires": go_time(r.expiry("snapshot")),
        "meta": {"root": file_meta(r.roots[-1]), "targets": file_meta(old_targets)},
        "version": 10})
    r.files = {**r.files, "timestamp.json": _resign(r, "timestamp", {
        "_type": "Timestamp", "expires": go_time(r.expiry("timestamp")),
        "meta": {"snapshot": file_meta(snapshot)}, "version": 10}),
        f"snapshot.{hashlib.sha256(snapshot).hexdigest()}.json": snapshot,
        f"targets.{hashlib.sha256(old_targets).hexdigest()}.json": old_targets}
    with pytest.raises(RollbackError, match="targets version 1 is lower than version 2"):
        client().resolve(ref(r))


@pytest.mark.parametrize("role", ["root", "timestamp", "snapshot", "targets"])
def test_each_role_expired(sim: SimServer, client: Client, role: str) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/expired-{role}"))
    r.expires[role] = datetime.now(UTC) - timedelta(seconds=30)
    r.sign_tag("1", DIGEST)
    r.publish()
    with pytest.raises(ExpiredError, match=f"{role} expired at"):
        client().resolve(ref(r))


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_mix_and_match_is_a_hash_mismatch(sim: SimServer, client: Client, role: str) -> None:
    r = repo(sim)
    other = sim.add(SimRepo(f"{REGISTRY}/other-{role}"))
    other.sign_tag("1", OTHER)
    other.publish()
    by_hash = next(n for n in r.files if n.startswith(f"{role}.") and n.count(".") == 2)
    sim.faults[by_hash] = Fault(body=other.files[f"{role}.json"])
    with pytest.raises((HashMismatchError, ResponseTooLarge)):
        client().resolve(ref(r))


def test_length_mismatch_short_body(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    by_hash = next(n for n in r.files if n.startswith("targets.") and n.count(".") == 2)
    sim.faults[by_hash] = Fault(body=r.files[by_hash][:-5])
    with pytest.raises(HashMismatchError, match="length"):
        client().resolve(ref(r))


@pytest.mark.parametrize("name", ["timestamp.json", "root.json"])
def test_oversize_responses(sim: SimServer, client: Client, name: str) -> None:
    r = repo(sim)
    sim.faults[name] = Fault(body=b" " * (1024 * 1024 + 1))
    with pytest.raises(ResponseTooLarge):
        client().resolve(ref(r))


def test_truncated_body(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    sim.faults["timestamp.json"] = Fault(truncate_to=20)
    with pytest.raises(NetworkError, match="incomplete"):
        client().resolve(ref(r))


# -- transport -----------------------------------------------------------------------------------

def test_slow_server_times_out(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    sim.faults["timestamp.json"] = Fault(delay=1.5)
    with pytest.raises(RequestTimeout):
        client(read_timeout=0.3).resolve(ref(r))


def test_server_error(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    sim.faults["timestamp.json"] = Fault(status=500)
    with pytest.raises(ServerError, match="500"):
        client().resolve(ref(r))


def test_transient_503_is_retried(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    sim.faults["timestamp.json"] = Fault(status=503, times=2)
    assert client().resolve(ref(r)).role == "targets"


def test_unknown_ca_is_a_tls_error(sim: SimServer, client: Client, config: Path) -> None:
    r = repo(sim)
    (config / "tls" / sim.hostport / "ca.crt").unlink()
    with pytest.raises(TLSError):
        client().resolve(ref(r))


def _login(config: Path, user: str, password: str) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": auth}}}))


def test_token_auth_with_registry_credentials(sim: SimServer, config: Path) -> None:
    r = repo(sim)
    sim.credentials = ("alice", "s3cret")
    _login(config, "alice", "s3cret")
    c = TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url})
    assert c.resolve(ref(r)).role == "targets"
    assert "/token" in sim.log


def test_a_token_is_fetched_once_per_repository_and_reused(sim: SimServer,
                                                           config: Path) -> None:
    r = repo(sim, "tokened")
    sim.credentials = ("alice", "s3cret")
    _login(config, "alice", "s3cret")
    c = TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url})
    sim.log.clear()
    assert c.resolve(ref(r)).role == "targets"
    fetched = [p for p in sim.log if p.startswith("/token")]
    asked = len(sim.requests_for(r.gun))
    # the metadata files, each asked once: after the first 401 the token goes with every
    # request of that scope
    assert len(fetched) == 1, sim.log
    assert asked == len(set(sim.requests_for(r.gun))) + 1, sim.log  # one 401'd request


@pytest.mark.parametrize("password", [None, "wrong"])
def test_401_and_bad_credentials(sim: SimServer, config: Path, password: str | None) -> None:
    r = repo(sim)
    sim.credentials = ("alice", "s3cret")
    if password:
        _login(config, "alice", password)
    c = TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url})
    with pytest.raises(AuthenticationError):
        c.resolve(ref(r))


def test_no_docker_config_dir_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from trustbuild._internal.dockerconfig import config_dir as docker_config_dir
    from trustbuild.errors import UsageError

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with pytest.raises(UsageError, match="set DOCKER_CONFIG or HOME"):
        docker_config_dir({})
    assert docker_config_dir({"DOCKER_CONFIG": "/cfg"}) == Path("/cfg")


def test_trust_server_must_be_https(config: Path) -> None:
    """The user's setting, wrong for every image: one usage error (exit 2), not a verdict
    per image."""
    from trustbuild.errors import UsageError

    c = TrustClient(docker_config=config,
                    env={"DOCKER_CONTENT_TRUST_SERVER": "http://127.0.0.1:1"})
    with pytest.raises(UsageError, match="must be an https:// URL"):
        c.resolve("reg.example:5000/x:1")
    with pytest.raises(UsageError, match="must be an https:// URL"):
        c.resolve_many(["reg.example:5000/x:1", "reg.example:5000/y:1"])


# -- fail closed, offline ------------------------------------------------------------------------

def test_no_fallback_to_cache_when_the_server_fails(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    sim.faults["timestamp.json"] = Fault(status=404)
    with pytest.raises(TrustError):
        client().resolve(ref(r))


def test_offline_uses_the_cache_only_while_fresh(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    sim.log.clear()
    answer = client(offline=True).resolve(ref(r))
    assert (answer.digest, answer.offline) == (f"sha256:{DIGEST}", True)
    assert sim.log == []
    later = datetime.now(UTC) + timedelta(days=400)
    with pytest.raises(ExpiredError):
        client(offline=True, clock=lambda: later).resolve(ref(r))


def test_offline_without_cache(client: Client) -> None:
    with pytest.raises(OfflineError):
        client(offline=True).resolve(f"{REGISTRY}/never-seen:1")


def test_warm_cache_fetches_only_the_timestamp(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    sim.log.clear()
    client().resolve(ref(r))
    assert sim.requests_for(r.gun) == ["timestamp.json"]


# -- a first use: the files asked for by name, at once ------------------------------------------

FIRST_READS = ["root.json", "snapshot.json", "targets.json", "targets/releases.json",
               "timestamp.json"]


def test_a_first_use_asks_for_every_file_at_once_and_nothing_after(
        sim: SimServer, client: Client) -> None:
    plain, released, third = (repo(sim, f"ahead{i}") for i in range(3))
    released.delegate("targets/releases", keytype="ecdsa")
    released.sign_tag("2", OTHER, role="targets/releases")
    released.publish()
    results = client().resolve_many([ref(plain), ref(released, "2"), ref(third)])
    assert [(v.digest, v.role) for v in results.values() if not isinstance(v, TrustError)] \
        == [(f"sha256:{DIGEST}", "targets"), (f"sha256:{OTHER}", "targets/releases"),
            (f"sha256:{DIGEST}", "targets")]
    for r in (plain, released, third):  # a 404 (no releases) is no reason to ask again
        assert sorted(sim.requests_for(r.gun)) == FIRST_READS


def test_more_first_uses_than_threads(sim: SimServer, client: Client) -> None:
    repos = [repo(sim, f"many-ahead{i}") for i in range(5)]
    results = client().resolve_many([ref(r) for r in repos], max_workers=2)
    assert [v.digest for v in results.values() if not isinstance(v, TrustError)] \
        == [f"sha256:{DIGEST}"] * 5
    for r in repos:
        assert sorted(sim.requests_for(r.gun)) == FIRST_READS


def test_a_file_asked_for_by_name_counts_only_if_it_is_the_one_listed(
        sim: SimServer, client: Client) -> None:
    """Another repository's snapshot, valid and signed, comes back for one repository's
    snapshot.json: its timestamp lists another hash, so the update fetches that one."""
    mine, other = repo(sim, "mine"), repo(sim, "other")
    sim.faults["snapshot.json"] = Fault(body=other.files["snapshot.json"])
    results = client().resolve_many([ref(mine), ref(other)])
    assert all(not isinstance(v, TrustError) for v in results.values())
    listed = hashlib.sha256(mine.files["snapshot.json"]).hexdigest()
    assert sorted(sim.requests_for(mine.gun)) == sorted([*FIRST_READS,
                                                         f"snapshot.{listed}.json"])
    assert sorted(sim.requests_for(other.gun)) == FIRST_READS


@pytest.mark.parametrize("bad_answers", [1, 2])
def test_a_wrong_root_fails_the_first_use_however_it_was_asked_for(
        sim: SimServer, client: Client, bad_answers: int) -> None:
    """root.json asked for with the others is the update's own request: another
    repository's root there fails the first use, as it would asked for alone (once)."""
    mine, other = repo(sim, "mine"), repo(sim, "other")
    sim.faults["root.json"] = Fault(body=other.files["root.json"], times=bad_answers)
    answer = client().resolve_many([ref(mine)])[ref(mine)]
    assert isinstance(answer, RootError)
    assert sim.requests_for(mine.gun).count("root.json") == 1


@pytest.mark.parametrize("fault", [Fault(truncate_to=10, times=1), Fault(status=503, times=1),
                                   Fault(status=401, times=1)])
def test_a_first_read_that_fails_is_asked_again_the_usual_way(
        sim: SimServer, client: Client, fault: Fault) -> None:
    repos = [repo(sim, f"cut{i}") for i in range(3)]
    sim.faults["timestamp.json"] = fault  # one repository's timestamp, among the first reads
    results = client().resolve_many([ref(r) for r in repos])
    assert [type(v).__name__ for v in results.values()] == ["TrustedDigest"] * 3
    assert all(v.digest == f"sha256:{DIGEST}" for v in results.values()
               if not isinstance(v, TrustError))
    asked = [sim.requests_for(r.gun).count("timestamp.json") for r in repos]
    assert sorted(asked) == [1, 1, 2]


def test_a_server_that_wants_a_token_gets_it_the_usual_way(sim: SimServer,
                                                           config: Path) -> None:
    repos = [repo(sim, f"authed{i}") for i in range(2)]
    sim.credentials = ("alice", "s3cret")
    _login(config, "alice", "s3cret")
    c = TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url})
    results = c.resolve_many([ref(r) for r in repos])
    assert [v.digest for v in results.values() if not isinstance(v, TrustError)] \
        == [f"sha256:{DIGEST}"] * 2


def test_nothing_is_asked_for_ahead_offline_or_when_cached(sim: SimServer,
                                                           client: Client) -> None:
    r = repo(sim, "known")
    client().resolve_many([ref(r)])
    sim.log.clear()
    client().resolve_many([ref(r)])
    assert sim.requests_for(r.gun) == ["timestamp.json"]
    sim.log.clear()
    client(offline=True).resolve_many([ref(r)])
    assert sim.log == []


@pytest.mark.parametrize("damage", [b"", b'{"signed": {"_type": "Ro'])
def test_a_torn_cached_root_stops_the_repository_until_the_user_acts(
        sim: SimServer, client: Client, config: Path, damage: bytes) -> None:
    """The cache is not flushed to disk; a crash can leave the root empty or cut.  It is the
    anchor: fail closed, say what to do, and never fetch a replacement unasked."""
    r = repo(sim, "torn")
    client().resolve(ref(r))
    cached = config / "trust" / "tuf" / r.gun / "metadata" / "root.json"
    cached.write_bytes(damage)
    sim.log.clear()
    answer = client().resolve_many([ref(r)])[ref(r)]
    assert isinstance(answer, RootError)
    assert "trust anchor" in str(answer) and "remove it" in str(answer)
    assert "root.json" not in sim.requests_for(r.gun)
    cached.unlink()
    assert client().resolve(ref(r)).digest == f"sha256:{DIGEST}"


def test_many_references_concurrently_each_repository_once(sim: SimServer,
                                                           client: Client) -> None:
    """Distinct tags of one repository on several threads share one load of it (the
    per-repository lock): every file is asked for once, although the server is slow enough
    for the loads to overlap."""
    repos = [repo(sim, f"many{i}") for i in range(3)]
    for r in repos:
        for tag in ("2", "3"):
            r.sign_tag(tag, DIGEST)
        r.publish()
    sim.faults["timestamp.json"] = Fault(delay=0.2)
    refs = [ref(r, tag) for tag in ("1", "2", "3") for r in repos]
    results = client().resolve_many(refs)
    assert [type(v).__name__ for v in results.values()] == ["TrustedDigest"] * 9
    for r in repos:
        asked = sim.requests_for(r.gun)
        assert sorted(asked) == sorted(set(asked)), asked


def test_independent_repositories_overlap_their_requests(sim: SimServer,
                                                         client: Client) -> None:
    repos = [repo(sim, f"fan{i}") for i in range(6)]
    client().resolve_many([ref(r) for r in repos])  # warm: one request each now
    sim.faults["timestamp.json"] = Fault(delay=0.3)
    sim.max_in_flight = 0
    results = client().resolve_many([ref(r) for r in repos])
    assert [type(v).__name__ for v in results.values()] == ["TrustedDigest"] * 6
    assert sim.max_in_flight >= 3


def test_one_connection_serves_a_repository_in_a_row(sim: SimServer, client: Client) -> None:
    """Connections are kept alive: one resolution's four requests in a row use one."""
    r = repo(sim)
    sim.peers.clear()
    client().resolve(ref(r))
    assert len(sim.peers) == 4 and len(set(sim.peers)) == 1


def test_malformed_metadata(sim: SimServer, client: Client) -> None:
    r = repo(sim)
    sim.faults["root.json"] = Fault(body=b'{"signed": [], "signatures": []}')
    with pytest.raises(MetadataError):
        client().resolve(ref(r))


def test_processes_sharing_one_cache(sim: SimServer, config: Path) -> None:
    """Several processes resolving at once against one trust dir: all answer, and the cache
    stays valid (atomic writes, one updater at a time)."""
    repos = [repo(sim, f"shared{i}") for i in range(3)]
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from trustbuild._internal.notary import TrustClient\n"
        "c = TrustClient(docker_config=Path(sys.argv[1]), "
        "env={'DOCKER_CONTENT_TRUST_SERVER': sys.argv[2]})\n"
        "for r in sys.argv[3:]: print(c.resolve(r).digest)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(config), sim.url,
                               *[ref(r) for r in repos]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.split() == [f"sha256:{DIGEST}"] * 3
    for r in repos:
        cached = config / "trust/tuf" / r.gun / "metadata"
        assert sorted(p.name for p in cached.iterdir()) == [
            "root.json", "snapshot.json", "targets.json", "timestamp.json"]


def test_a_long_lived_client_sees_a_revoked_tag_after_max_age(sim: SimServer,
                                                              client: Client) -> None:
    r = repo(sim)
    now = [datetime.now(UTC)]
    c = client(clock=lambda: now[0])
    assert c.resolve(ref(r)).digest == f"sha256:{DIGEST}"
    del r.targets["1"]
    r.publish()
    now[0] += timedelta(minutes=1)
    assert c.resolve(ref(r)).digest == f"sha256:{DIGEST}"  # one load answers for max_age
    now[0] += timedelta(minutes=5)
    with pytest.raises(NoTrustData):
        c.resolve(ref(r))


def test_a_long_lived_client_rechecks_expiry(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/shortlived"))
    r.expires["timestamp"] = datetime.now(UTC) + timedelta(minutes=2)
    r.sign_tag("1", DIGEST)
    r.publish()
    now = [datetime.now(UTC)]
    c = client(clock=lambda: now[0], max_age=timedelta(hours=1))
    assert c.resolve(ref(r)).role == "targets"
    now[0] += timedelta(minutes=3)  # within max_age, but the timestamp has expired
    with pytest.raises(ExpiredError, match="timestamp expired"):
        c.resolve(ref(r))


# -- every run verifies what it relies on ---------------------------------------------------------

def test_a_warm_run_writes_no_metadata(sim: SimServer, client: Client, config: Path) -> None:
    r = repo(sim)
    client().resolve(ref(r))
    files = sorted((config / "trust" / "tuf" / r.gun).rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in files}
    client().resolve(ref(r))
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_an_edited_cached_root_is_refused_on_the_next_run(sim: SimServer, client: Client,
                                                          config: Path) -> None:
    """Signatures are checked in every run: a cached root with a later expiry written in
    is a file its signatures do not cover."""
    r = repo(sim)
    client().resolve(ref(r))
    cached = config / "trust" / "tuf" / r.gun / "metadata" / "root.json"
    doc = json.loads(cached.read_bytes())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
    cached.write_bytes(json.dumps(doc).encode())
    with pytest.raises(RootError, match="not signed"):
        client().resolve(ref(r))


def test_a_bad_key_is_refused(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/weak"))
    r.sign_tag("1", DIGEST)

    def weak_key(signed: dict[str, Any]) -> None:
        signed["delegations"] = {"keys": {"k": {"keytype": "rsa", "keyval": {
            "private": None, "public": base64.b64encode(b"not a key").decode()}}},
            "roles": []}

    r.tamper["targets"] = weak_key
    r.publish()
    with pytest.raises(MetadataError, match="cannot read rsa key"):
        client().resolve(ref(r))


# -- the client as a service: its arguments, its repr, its log ------------------------------------

def test_repr_never_shows_a_secret(sim: SimServer, config: Path) -> None:
    r = repo(sim)
    sim.credentials = ("alice", "s3cret-pw")
    _login(config, "alice", "s3cret-pw")
    env = {"DOCKER_CONTENT_TRUST_SERVER": sim.url, "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE":
           "root-passphrase", "AWS_SECRET_ACCESS_KEY": "aws-secret",
           "HTTPS_PROXY": "http://u:proxy-pw@proxy.invalid:3128", "NO_PROXY": "*"}
    c = TrustClient(docker_config=config, env=env)
    assert c.resolve(ref(r)).role == "targets"
    tokens = sim._tokens
    assert tokens, "no token was handed out"
    shown = repr(c) + repr(c.transport)
    for secret in ("s3cret-pw", "root-passphrase", "aws-secret", "proxy-pw", *tokens):
        assert secret not in shown, secret
    assert str(config) in repr(c)


def test_explicit_arguments_and_a_policy(config: Path) -> None:
    from trustbuild._internal.policy import Policy, Sourced
    from trustbuild.errors import UsageError

    strict = Policy(tofu=Sourced(False, "p.toml"), offline=Sourced(False, "p.toml"),
                    grace=Sourced(timedelta(hours=1), "p.toml"))
    c = TrustClient(docker_config=config, env={}, policy=strict)
    assert (c.allow_tofu, c.offline, c.grace) == (False, False, timedelta(hours=1))
    # allow_tofu=True and offline=False leave the decision to the policy
    c = TrustClient(docker_config=config, env={}, policy=strict, allow_tofu=True)
    assert c.allow_tofu is False
    # offline=True and allow_tofu=False always apply (the command line's --offline)
    c = TrustClient(docker_config=config, env={}, policy=Policy(), offline=True,
                    allow_tofu=False)
    assert (c.offline, c.allow_tofu) == (True, False)
    # a grace the policy does not set is the caller's; one that contradicts it is an error
    c = TrustClient(docker_config=config, env={}, policy=Policy(), grace=timedelta(hours=2))
    assert c.grace == timedelta(hours=2)
    assert TrustClient(docker_config=config, env={}, policy=strict,
                       grace=timedelta(hours=1)).grace == timedelta(hours=1)
    with pytest.raises(UsageError, match=r"contradicts trust\.grace"):
        TrustClient(docker_config=config, env={}, policy=strict, grace=timedelta(hours=2))
    with pytest.raises(UsageError, match="pin_for and a policy"):
        TrustClient(docker_config=config, env={}, policy=Policy(), pin_for=lambda gun: None)
    # without a policy, the arguments are taken as given
    c = TrustClient(docker_config=config, env={}, allow_tofu=False, grace=timedelta(1))
    assert (c.allow_tofu, c.grace, c.offline) == (False, timedelta(1), False)


def test_the_log_explains_each_repository(sim: SimServer, client: Client, config: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    import logging

    r = repo(sim)
    r.delegate("targets/releases", keytype="ecdsa")
    r.sign_tag("2", OTHER, role="targets/releases")
    r.publish()
    caplog.set_level(logging.INFO, logger="trustbuild")
    client().resolve_many([ref(r, "2")])
    first = caplog.text
    assert f"trust server {sim.url}" in first
    assert str(config / "tls" / sim.hostport / "ca.crt") in first
    assert "direct: no HTTPS_PROXY" in first
    assert "fetched root.json" in first and "(asked for at once, by name)" in first
    assert f"{r.gun}:2 is sha256:{OTHER}, signed by targets/releases" in first
    caplog.clear()
    client().resolve(ref(r, "2"))
    assert "fetched timestamp.json; everything else from the trust cache" in caplog.text
    caplog.clear()
    client(offline=True).resolve(ref(r, "2"))
    assert "offline, from the trust cache only" in caplog.text
