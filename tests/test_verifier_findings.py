"""Issue 15, the verifier's findings: each attack on the simulator (or behind the verifier's
Fetcher/Cache interfaces), refused the way notary's client and python-tuf refuse it."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Client
from tests.notarysim.keys import make_key
from tests.notarysim.published import DIGEST, OTHER, REGISTRY, ref, repo
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.policy import load
from trustbuild.errors import (
    ExpiredError,
    MetadataError,
    Reason,
    RollbackError,
    RootError,
    TrustError,
)


def other_machine(sim: SimServer, config: Path, name: str) -> TrustClient:
    """A client on another docker config dir (empty trust cache) trusting the simulator's
    CA."""
    target = config.parent / name
    shutil.copytree(config / "tls", target / "tls")
    return TrustClient(docker_config=target, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url,
                                                  "XDG_STATE_HOME": f"{target}-state"})


# -- 1: trust on first use off, whatever the cache holds ------------------------------------------

def test_tofu_off_refuses_an_unpinned_repository_whose_root_is_cached(
        sim: SimServer, client: Client, tmp_path: Path) -> None:
    """docker pull, notary lookup or a run under a looser policy cached the root: it is not a
    pin."""
    r = repo(sim, "cached-unpinned")
    assert client().resolve(ref(r)).digest == f"sha256:{DIGEST}"  # caches the root
    strict = tmp_path / "strict.toml"
    strict.write_text("[trust]\ntofu = false\n")
    policy = load(config=str(strict), env={"HOME": "/nonexistent"})
    for offline in (False, True):
        with pytest.raises(RootError) as caught:
            client(policy=policy, offline=offline).resolve(ref(r))
        assert caught.value.reason == Reason.NO_PINNED_ROOT
        assert "trust on first use is disabled" in str(caught.value)
    pinned = tmp_path / "pinned.toml"
    pinned.write_text(f"[trust]\ntofu = false\n[[repository]]\nmatch = '{r.gun}'\n"
                      f"root_keys = ['{r.keys['root'][0].keyid}']\n")
    policy = load(config=str(pinned), env={"HOME": "/nonexistent"})
    assert client(policy=policy).resolve(ref(r)).digest == f"sha256:{DIGEST}"


# -- 2: an expired cached root ----------------------------------------------------------------

def test_an_expired_cached_root_is_refreshed_and_refused_while_still_expired(
        sim: SimServer, client: Client) -> None:
    now = datetime.now(UTC)
    r = sim.add(SimRepo(f"{REGISTRY}/oldroot"))
    r.expires["root"] = now + timedelta(days=1)
    r.sign_tag("1", DIGEST)
    r.publish()
    client().resolve(ref(r))
    later = now + timedelta(days=2)
    sim.log.clear()
    # the server (holding the timestamp and snapshot keys) serves the same, expired root
    with pytest.raises(ExpiredError, match="root expired at"):
        client(clock=lambda: later).resolve(ref(r))
    assert "root.json" in sim.requests_for(r.gun)  # it looked for a newer root
    with pytest.raises(ExpiredError, match="root expired at"):
        client(clock=lambda: later, offline=True).resolve(ref(r))
    # the root key holder publishes a fresh root: it is found and used
    r.expires["root"] = now + timedelta(days=365)
    r.mark_root_changed()
    r.publish()
    assert client(clock=lambda: later).resolve(ref(r)).digest == f"sha256:{DIGEST}"


# -- 4: a delegation the snapshot hides ------------------------------------------------------

def _with_releases(sim: SimServer, name: str) -> SimRepo:
    r = repo(sim, name)  # "1" is signed in targets as DIGEST…
    r.delegate("targets/releases")
    r.sign_tag("1", OTHER, role="targets/releases")  # …and in targets/releases as OTHER
    r.publish()
    return r


def _hide_releases(signed: dict[str, Any]) -> None:
    del signed["meta"]["targets/releases"]


@pytest.mark.parametrize("cached_before", [True, False])
def test_a_declared_releases_role_left_out_of_the_snapshot_is_an_error(
        sim: SimServer, client: Client, config: Path, cached_before: bool) -> None:
    r = _with_releases(sim, f"hidden-{str(cached_before).lower()}")
    if cached_before:
        assert client().resolve(ref(r)).digest == f"sha256:{OTHER}"
    # whoever holds the snapshot key (notary-server, in docker's setup) leaves it out
    r.tamper["snapshot"] = _hide_releases
    r.publish()
    c = client() if cached_before else other_machine(sim, config, "fresh")
    with pytest.raises(MetadataError, match="targets delegates targets/releases, but the "
                                            "snapshot does not list it"):
        c.resolve(ref(r))


def test_a_releases_role_verified_before_and_now_missing_is_an_error(
        sim: SimServer, client: Client, config: Path) -> None:
    """Neither targets nor the snapshot name targets/releases any more, but this machine
    verified it: a tag must not silently fall back to an older entry in targets."""
    r = _with_releases(sim, "vanished")
    assert client().resolve(ref(r)).digest == f"sha256:{OTHER}"
    del r.delegations["targets/releases"]
    r.publish()
    with pytest.raises(RollbackError, match="targets/releases was verified before") as caught:
        client().resolve(ref(r))
    assert "metadata/targets/releases.json" in str(caught.value)  # what to do if on purpose
    # a machine that never saw it answers from targets, as docker does
    fresh = other_machine(sim, config, "never-saw-it")
    assert fresh.resolve(ref(r)).digest == f"sha256:{DIGEST}"


# -- 6: errors that escaped as tracebacks --------------------------------------------------------

def _edit(data: bytes, change: Any) -> bytes:
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


def _non_ascii_signature(doc: dict[str, Any]) -> None:
    doc["signatures"][0]["sig"] = "\u0663" * 88  # ARABIC-INDIC DIGIT THREE


def _non_ascii_key(doc: dict[str, Any]) -> None:
    key = next(iter(doc["signed"]["keys"].values()))
    key["keyval"]["public"] = "\uff21" * 44  # FULLWIDTH LATIN CAPITAL A


DEEP = b'{"signed":' + b"[" * 100_000 + b"]" * 100_000 + b',"signatures":[]}'


@pytest.mark.parametrize(("name", "damage", "error"), [
    ("timestamp.json", lambda d: _edit(d, _non_ascii_signature), MetadataError),
    ("root.json", lambda d: _edit(d, _non_ascii_key), MetadataError),
    ("timestamp.json", lambda d: DEEP, MetadataError),
    ("root.json", lambda d: DEEP, MetadataError),
], ids=["non-ascii-signature", "non-ascii-key", "deep-timestamp", "deep-root"])
def test_hostile_metadata_is_a_verdict_for_that_repository(
        sim: SimServer, client: Client, name: str, damage: Any, error: type) -> None:
    bad, good = repo(sim, "hostile"), repo(sim, "healthy")
    bad.files[name] = damage(bad.files[name])
    results = client().resolve_many([ref(bad), ref(good)])
    assert isinstance(results[ref(bad)], error), results[ref(bad)]
    answer = results[ref(good)]
    assert not isinstance(answer, TrustError) and answer.digest == f"sha256:{DIGEST}"


def _lagging_root_server(sim: SimServer, client: Client, name: str) -> SimRepo:
    """Cached root v1; the server moved to v3 (v2 rotated the timestamp key, v3 the root
    key), but its root.json still serves v2."""
    r = repo(sim, name)
    client().resolve(ref(r))
    r.keys["timestamp"] = [make_key("ed25519")]
    r.mark_root_changed()
    r.publish()
    r.rotate_root()
    r.publish()
    r.files["root.json"] = r.roots[1]
    return r


def test_a_root_json_that_lags_its_snapshot_is_followed_by_hash(sim: SimServer,
                                                                client: Client) -> None:
    r = _lagging_root_server(sim, client, "lagging")
    sim.log.clear()
    assert client().resolve(ref(r)).digest == f"sha256:{DIGEST}"
    newest = hashlib.sha256(r.roots[2]).hexdigest()
    assert f"root.{newest}.json" in sim.requests_for(r.gun)


def test_a_root_json_that_lags_and_no_root_by_hash_is_a_verdict(sim: SimServer,
                                                                 client: Client) -> None:
    r = _lagging_root_server(sim, client, "lagging-nohash")
    del r.files[f"root.{hashlib.sha256(r.roots[2]).hexdigest()}.json"]
    good = repo(sim, "next-door")
    results = client().resolve_many([ref(r), ref(good)])
    assert isinstance(results[ref(r)], TrustError)
    answer = results[ref(good)]
    assert not isinstance(answer, TrustError) and answer.digest == f"sha256:{DIGEST}"


# -- 8: the rollback floor survives a key rotation ---------------------------------------------

@pytest.mark.parametrize("role", ["timestamp", "snapshot"])
def test_rollback_floor_survives_a_key_rotation(sim: SimServer, client: Client,
                                                role: str) -> None:
    r = repo(sim, f"floor-{role}")
    for _ in range(4):
        r.publish()
    client().resolve(ref(r))  # version 5 of each role is cached
    r.keys[role] = [make_key("ed25519")]  # rotated (a new root lists the new key)…
    r.mark_root_changed()
    r.versions[role] = 1  # …and the server starts again below what this machine saw
    r.publish()
    with pytest.raises(RollbackError, match=f"{role} version 2 is lower than version 5"):
        client().resolve(ref(r))


def test_an_honest_key_rotation_keeps_working(sim: SimServer, client: Client) -> None:
    r = repo(sim, "honest-rotation")
    client().resolve(ref(r))
    for role in ("timestamp", "snapshot"):
        r.keys[role] = [make_key("ecdsa")]
    r.mark_root_changed()
    r.publish()
    assert client().resolve(ref(r)).digest == f"sha256:{DIGEST}"
