"""Facts kept between runs (notary/facts.py): they save work and never grant trust.

Each test plays two "processes" by clearing the in-process memo between clients.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Client
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal.notary import crypto, facts
from trustbuild.errors import MetadataError, RootError, SignatureError

REGISTRY = "reg.example:5000"
DIGEST = hashlib.sha256(b"image manifest").hexdigest()


@pytest.fixture(autouse=True)
def new_process() -> None:
    facts.forget_all()


def publish(sim: SimServer, name: str = "app") -> SimRepo:
    r = sim.add(SimRepo(f"{REGISTRY}/{name}"))
    r.delegate("targets/releases", keytype="ecdsa")
    r.sign_tag("1", DIGEST, role="targets/releases")
    r.publish()
    return r


def facts_file(config: Path, r: SimRepo) -> Path:
    return config / "trust" / "tuf" / r.gun / facts.FILE_NAME


def no_cryptography(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any use of cryptography instead of allowing it."""
    used: list[str] = []

    def verify(*args: object) -> bool:
        used.append("verify")
        return False

    def key_facts(*args: object) -> None:
        used.append("key")
        raise MetadataError("no cryptography in this test")

    monkeypatch.setattr(crypto, "verify", verify)
    monkeypatch.setattr(crypto, "key_facts", key_facts)
    return used


def test_a_warm_run_verifies_from_facts_without_cryptography(
        sim: SimServer, client: Client, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = publish(sim)
    assert client().resolve(f"{r.gun}:1").digest == f"sha256:{DIGEST}"
    assert facts_file(config, r).is_file()
    facts.forget_all()
    used = no_cryptography(monkeypatch)
    got = client().resolve(f"{r.gun}:1")
    assert (got.digest, got.role, used) == (f"sha256:{DIGEST}", "targets/releases", [])


def test_a_warm_run_writes_nothing(sim: SimServer, client: Client, config: Path) -> None:
    r = publish(sim)
    client().resolve(f"{r.gun}:1")
    repo_dir = config / "trust" / "tuf" / r.gun
    before = {p: p.stat().st_mtime_ns for p in repo_dir.rglob("*.json")}
    before[facts_file(config, r)] = facts_file(config, r).stat().st_mtime_ns
    facts.forget_all()
    client().resolve(f"{r.gun}:1")
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before


def test_new_metadata_is_verified_again(sim: SimServer, client: Client, config: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    r = publish(sim)
    client().resolve(f"{r.gun}:1")
    r.sign_tag("2", DIGEST, role="targets/releases")
    r.publish()
    facts.forget_all()
    used = no_cryptography(monkeypatch)
    with pytest.raises(SignatureError):  # verification is refused here: so it was asked for
        client().resolve(f"{r.gun}:2")
    assert "verify" in used


def test_an_edited_cached_root_is_not_covered_by_old_facts(sim: SimServer, client: Client,
                                                           config: Path) -> None:
    """Facts name the whole file's hash: a cached root with a key added is a new file, and
    its unchanged signatures no longer count."""
    r = publish(sim)
    client().resolve(f"{r.gun}:1")
    cached = config / "trust" / "tuf" / r.gun / "metadata" / "root.json"
    doc = json.loads(cached.read_bytes())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
    cached.write_bytes(json.dumps(doc).encode())
    facts.forget_all()
    with pytest.raises(RootError, match="not signed"):
        client().resolve(f"{r.gun}:1")


def forge_facts(config: Path, r: SimRepo, secret: bytes) -> None:
    """Rewrite the facts file so that every signature in the cache 'checked out', under
    *secret*."""
    path = facts_file(config, r)
    _, _, body = path.read_bytes().partition(b"\n")
    doc = json.loads(body)
    for name in ("root", "targets"):
        raw = (path.parent / "metadata" / f"{name}.json").read_bytes()
        signed = json.loads(raw)
        for key in signed["signed"].get("keys", {}).values():
            for sig in signed["signatures"]:
                doc["signatures"].append(facts.signature_fact(
                    key["keytype"], key["keyval"]["public"], sig["method"],
                    hashlib.sha256(raw).digest(), base64.b64decode(sig["sig"])))
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    import hmac

    mac = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    path.write_bytes(mac + b"\n" + body)


def tamper_root_signatures(config: Path, r: SimRepo) -> None:
    cached = config / "trust" / "tuf" / r.gun / "metadata" / "root.json"
    doc = json.loads(cached.read_bytes())
    for sig in doc["signatures"]:
        sig["sig"] = base64.b64encode(b"\x01" * 64).decode()
    cached.write_bytes(json.dumps(doc, separators=(",", ":")).encode())


@pytest.mark.parametrize("secret", [b"x" * 32, b""], ids=["another-secret", "no-mac"])
def test_facts_without_the_users_secret_are_ignored(sim: SimServer, client: Client,
                                                    config: Path, secret: bytes) -> None:
    """A trust dir from elsewhere (say a CI cache from another branch) claiming that forged
    signatures checked out: the claim does not count."""
    r = publish(sim)
    client().resolve(f"{r.gun}:1")
    tamper_root_signatures(config, r)
    forge_facts(config, r, secret)
    facts.forget_all()
    with pytest.raises(RootError, match="not signed"):
        client().resolve(f"{r.gun}:1")


def test_the_forgery_above_is_real(sim: SimServer, client: Client, config: Path) -> None:
    """Control for the test above: under the user's own secret the same forged facts are
    believed (the root's signatures pass; the snapshot's hash of the root then catches the
    edit), so it is the secret, kept outside the trust dir, that stops them."""
    r = publish(sim)
    client().resolve(f"{r.gun}:1")
    tamper_root_signatures(config, r)
    secret = facts.user_secret({"XDG_STATE_HOME": f"{config}-state"})
    assert secret is not None
    forge_facts(config, r, secret)
    facts.forget_all()
    with pytest.raises(RootError) as caught:
        client().resolve(f"{r.gun}:1")
    assert "not signed" not in str(caught.value)


def test_the_secret_is_private_and_made_once(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    first = facts.user_secret(env)
    assert first is not None and len(first) == facts.SECRET_BYTES
    path = tmp_path / "state" / "trustbuild" / "facts.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    facts._secrets.clear()
    assert facts.user_secret(env) == first


def test_without_a_state_dir_nothing_is_kept(sim: SimServer, client: Client, config: Path,
                                             tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    r = publish(sim)
    env = {"DOCKER_CONTENT_TRUST_SERVER": sim.url, "XDG_STATE_HOME": str(blocked)}
    assert client(env=env).resolve(f"{r.gun}:1").digest == f"sha256:{DIGEST}"
    assert not facts_file(config, r).exists()


def test_a_corrupt_facts_file_is_ignored(sim: SimServer, client: Client, config: Path) -> None:
    r = publish(sim)
    client().resolve(f"{r.gun}:1")
    facts_file(config, r).write_bytes(b"\x00garbage")
    facts.forget_all()
    assert client().resolve(f"{r.gun}:1").digest == f"sha256:{DIGEST}"


def test_a_bad_key_is_still_refused_on_first_sight(sim: SimServer, client: Client) -> None:
    r = sim.add(SimRepo(f"{REGISTRY}/weak"))
    r.sign_tag("1", DIGEST)

    def weak_key(signed: dict[str, Any]) -> None:
        signed["delegations"] = {"keys": {"k": {"keytype": "rsa", "keyval": {
            "private": None, "public": base64.b64encode(b"not a key").decode()}}},
            "roles": []}

    r.tamper["targets"] = weak_key
    r.publish()
    with pytest.raises(MetadataError, match="cannot read rsa key"):
        client().resolve(f"{r.gun}:1")


def test_a_warm_check_does_not_import_cryptography(sim: SimServer, config: Path) -> None:
    """What the facts are for, seen from a new process."""
    r = publish(sim)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from trustbuild._internal.notary import TrustClient\n"
        "c = TrustClient(docker_config=Path(sys.argv[1]), "
        "env={'DOCKER_CONTENT_TRUST_SERVER': sys.argv[2]})\n"
        "print(c.resolve(sys.argv[3]).digest)\n"
        "print('cryptography' in sys.modules)\n")
    argv = [sys.executable, "-c", script, str(config), sim.url, f"{r.gun}:1"]
    env = dict(os.environ)
    first = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    second = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    assert first.stdout.split() == [f"sha256:{DIGEST}", "True"]
    assert second.stdout.split() == [f"sha256:{DIGEST}", "False"]


def test_no_home_means_no_facts_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Containers run under an arbitrary UID may have neither HOME nor a passwd entry."""
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert facts.user_secret({}) is None
