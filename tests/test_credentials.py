"""Registry credentials from docker's config.json (docker.auth), every source docker reads."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from trustbuild._internal.notary.credentials import Credentials, registry_credentials
from trustbuild.errors import AuthenticationError


def _config(tmp_path: Path, data: dict[str, object]) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(data))
    return tmp_path


def _helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, code: int = 0) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / "docker-credential-fake"
    script.write_text(f"#!/bin/sh\nread server\necho \"$server\" > {tmp_path}/asked\n"
                      f"echo '{output}'\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_auths_entries(tmp_path: Path) -> None:
    auth = base64.b64encode(b"bob:pw1").decode()
    cfg = _config(tmp_path, {"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "reg.example:5000": {"username": "carol", "password": "pw2"},
        "https://legacy.example.com/v1/": {"auth": auth},
        "tok.example.com": {"identitytoken": "REFRESH"}}})
    assert registry_credentials("docker.io", cfg) == Credentials("bob", "pw1")
    assert registry_credentials("reg.example:5000", cfg) == Credentials("carol", "pw2")
    assert registry_credentials("legacy.example.com", cfg) == Credentials("bob", "pw1")
    assert registry_credentials("tok.example.com", cfg) == Credentials(identity_token="REFRESH")
    assert registry_credentials("other.example.com", cfg) is None
    assert "pw1" not in repr(registry_credentials("docker.io", cfg))


def test_cred_helpers_win_over_store_and_auths(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _helper(tmp_path, monkeypatch, '{"ServerURL":"x","Username":"alice","Secret":"s3"}')
    cfg = _config(tmp_path, {"credHelpers": {"reg.example": "fake"},
                             "auths": {"reg.example": {"username": "no", "password": "no"}}})
    assert registry_credentials("reg.example", cfg) == Credentials("alice", "s3")
    assert (tmp_path / "asked").read_text().strip() == "reg.example"


def test_creds_store_and_identity_tokens(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _helper(tmp_path, monkeypatch, '{"Username":"<token>","Secret":"RT"}')
    cfg = _config(tmp_path, {"credsStore": "fake"})
    assert registry_credentials("docker.io", cfg) == Credentials(identity_token="RT")
    assert (tmp_path / "asked").read_text().strip() == "https://index.docker.io/v1/"


def test_helper_without_credentials_and_failing_helper(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _helper(tmp_path, monkeypatch, "credentials not found in native keychain", code=1)
    assert registry_credentials("reg.example", _config(tmp_path, {"credsStore": "fake"})) \
        is None
    _helper(tmp_path, monkeypatch, "boom", code=1)
    with pytest.raises(AuthenticationError, match="docker-credential-fake exited"):
        registry_credentials("reg.example", _config(tmp_path, {"credsStore": "fake"}))
    with pytest.raises(AuthenticationError, match="docker-credential-missing not installed"):
        registry_credentials("reg.example", _config(tmp_path, {"credsStore": "missing"}))


def test_unreadable_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(AuthenticationError, match=r"config\.json"):
        registry_credentials("reg.example", tmp_path)
    assert registry_credentials("reg.example", tmp_path / "absent") is None


def test_only_the_config_dirs_own_file_counts(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-py would fall back to ~/.docker/config.json; docker reads $DOCKER_CONFIG only."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    auth = base64.b64encode(b"bob:pw1").decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"reg.example": {
        "auth": auth}}}))
    monkeypatch.setenv("HOME", str(home))
    empty = tmp_path / "cfg"
    empty.mkdir()
    assert registry_credentials("reg.example", empty) is None
    assert registry_credentials("reg.example", home / ".docker") == Credentials("bob", "pw1")


def test_a_server_that_does_not_ask_never_runs_a_helper(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.notarysim.repo import SimRepo
    from tests.notarysim.server import SimServer, make_tls, serving
    from trustbuild._internal.notary.client import TrustClient

    _helper(tmp_path, monkeypatch, '{"Username":"alice","Secret":"s3"}')
    config = _config(tmp_path, {"credsStore": "fake"})
    tls = make_tls(tmp_path / "tls-files")
    with serving(SimServer(tls)) as sim:
        (config / "tls" / sim.hostport).mkdir(parents=True)
        (config / "tls" / sim.hostport / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
        repo = sim.add(SimRepo("reg.example/app"))
        repo.sign_tag("1", "ab" * 32)
        repo.publish()
        client = TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url})
        assert client.resolve("reg.example/app:1").digest == f"sha256:{'ab' * 32}"
    assert not (tmp_path / "asked").exists()
