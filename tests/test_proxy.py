"""Proxies as docker and the notary CLI use them: Go's rules, and a real tinyproxy.

The trust server gets a host name (an /etc/hosts entry for 127.0.0.1 and a certificate for
that name), because Go clients, and trustbuild with them, never proxy loopback addresses."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import entry_point
from tests.conftest import trust_config
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer, TLSFiles, make_tls, serving
from tests.stack.services import free_port
from tests.stack.tinyproxy import hosts_entry, running_tinyproxy
from trustbuild._internal import proxy
from trustbuild._internal.notary.client import TrustClient
from trustbuild.errors import ExitCode, ProxyError

REGISTRY = "reg.example:5000"
DIGEST = "ab" * 32
DOMAIN = "proxytest.test"
NAME = f"trust-{os.getpid()}.{DOMAIN}"


# -- Go's rules (golang.org/x/net/http/httpproxy) ---------------------------------------------

def routed(host: str, port: int | None = 4443, **env: str) -> str | None:
    chosen = proxy.route(host, port, env).proxy
    return chosen.url if chosen else None


def test_only_https_proxy_counts_for_https() -> None:
    assert routed("trust.example", HTTP_PROXY="http://p:1") is None
    assert routed("trust.example", https_proxy="p:3128") == "http://p:3128"
    assert routed("trust.example", HTTPS_PROXY="https://p", https_proxy="http://q:1") \
        == "https://p:443"
    assert routed("trust.example", HTTPS_PROXY="http://p") == "http://p:80"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "::1",
                                  "[::1]", "::ffff:127.0.0.1"])
def test_localhost_and_loopback_are_never_proxied(host: str) -> None:
    assert routed(host, HTTPS_PROXY="http://p:1") is None


@pytest.mark.parametrize(("no_proxy", "host", "port", "bypass"), [
    ("*", "trust.example", 4443, True),
    ("trust.example", "trust.example", 4443, True),
    ("trust.example", "a.trust.example", 4443, True),
    ("trust.example", "xtrust.example", 4443, False),
    (".trust.example", "trust.example", 4443, False),
    (".trust.example", "a.trust.example", 4443, True),
    ("*.trust.example", "a.trust.example", 4443, True),
    ("*.trust.example", "trust.example", 4443, False),
    ("trust.example:4443", "trust.example", 4443, True),
    ("trust.example:443", "trust.example", 4443, False),
    ("trust.example:443", "trust.example", None, True),
    (" Trust.Example , other", "trust.example", 4443, True),
    ("10.0.0.0/8", "10.1.2.3", 4443, True),
    ("10.0.0.0/8", "11.1.2.3", 4443, False),
    ("10.1.2.3", "10.1.2.3", 4443, True),
    ("10.1.2.3:4443", "10.1.2.3", 4443, True),
    ("10.1.2.3:80", "10.1.2.3", 4443, False),
    ("2001:db8::/32", "2001:db8::5", 4443, True),
    ("[2001:db8::5]:4443", "2001:db8::5", 4443, True),
    ("[2001:db8::5]", "2001:db8::5", 4443, False),  # Go: not split, so no host matches
    ("10.0.0.0/8", "trust.example", 4443, False),
    ("", "trust.example", 4443, False),
])
def test_no_proxy_entries(no_proxy: str, host: str, port: int | None, bypass: bool) -> None:
    got = routed(host, port, HTTPS_PROXY="http://p:1", NO_PROXY=no_proxy)
    assert (got is None) == bypass
    assert (routed(host, port, HTTPS_PROXY="http://p:1", no_proxy=no_proxy) is None) == bypass


@pytest.mark.parametrize("value", ["socks5://p:1080", "http://p:99999", "http://[::1",
                                   "http://p:1/path"])
def test_a_proxy_that_cannot_be_used_is_an_error_not_a_direct_connection(value: str) -> None:
    with pytest.raises(ProxyError):
        proxy.route("trust.example", 4443, {"HTTPS_PROXY": value})


def test_proxy_credentials_are_taken_apart_and_never_printed() -> None:
    chosen = proxy.route("trust.example", 4443,
                         {"HTTPS_PROXY": "http://al%40ice:p%3Ass@p:3128"}).proxy
    assert chosen is not None
    assert (chosen.url, chosen.username, chosen.password) == ("http://p:3128", "al@ice", "p:ss")
    assert "p:ss" not in repr(chosen) and "p%3Ass" not in repr(chosen)
    with pytest.raises(ProxyError) as caught:
        proxy.route("trust.example", 4443, {"HTTPS_PROXY": "socks5://u:s3cret@p:1"})
    assert "s3cret" not in str(caught.value)


# -- a real proxy ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def named_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("named-tls"), host=NAME)


@pytest.fixture()
def named_sim(named_tls: TLSFiles) -> Iterator[SimServer]:
    with hosts_entry(NAME), serving(SimServer(named_tls, host=NAME)) as sim:
        repo = sim.add(SimRepo(f"{REGISTRY}/app"))
        repo.sign_tag("1", DIGEST)
        repo.publish()
        yield sim


@pytest.fixture()
def named_config(tmp_path: Path, named_sim: SimServer, named_tls: TLSFiles) -> Path:
    return trust_config(tmp_path, named_tls, named_sim.hostport)


def client_for(config: Path, sim: SimServer, **env: str) -> TrustClient:
    return TrustClient(docker_config=config,
                       env={"DOCKER_CONTENT_TRUST_SERVER": sim.url, **env})


def test_the_trust_server_is_reached_through_the_proxy(
        named_sim: SimServer, named_config: Path, caplog: pytest.LogCaptureFixture) -> None:
    with running_tinyproxy() as tiny:
        caplog.set_level(logging.INFO, logger="trustbuild")
        got = client_for(named_config, named_sim, HTTPS_PROXY=tiny.url).resolve(
            f"{REGISTRY}/app:1")
        assert got.digest == f"sha256:{DIGEST}"
        assert tiny.connects() == [named_sim.hostport]  # one tunnel, kept alive
    assert f"through the proxy {tiny.url}" in caplog.text


def test_a_proxy_that_is_down_is_an_error_not_a_direct_connection(
        named_sim: SimServer, named_config: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProxyError) as caught:
        client_for(named_config, named_sim, HTTPS_PROXY=dead).resolve(f"{REGISTRY}/app:1")
    assert dead in str(caught.value) and caught.value.exit_code == ExitCode.TRUST_ERROR
    assert named_sim.log == []


@pytest.mark.parametrize("no_proxy", [NAME, DOMAIN, f".{DOMAIN}", f"*.{DOMAIN}", "*",
                                      "{name}:{port}", "127.0.0.0/8,{name}"])
def test_no_proxy_bypasses_the_proxy(named_sim: SimServer, named_config: Path,
                                     no_proxy: str) -> None:
    entry = no_proxy.format(name=NAME, port=named_sim.port)
    with running_tinyproxy() as tiny:
        got = client_for(named_config, named_sim, HTTPS_PROXY=tiny.url,
                         no_proxy=entry).resolve(f"{REGISTRY}/app:1")
        assert got.digest == f"sha256:{DIGEST}"
        assert tiny.connects() == []


@pytest.mark.parametrize("no_proxy", ["{name}:1", f"other.{DOMAIN}", "127.0.0.0/8"])
def test_no_proxy_entries_that_do_not_match_leave_the_proxy(
        named_sim: SimServer, named_config: Path, no_proxy: str) -> None:
    with running_tinyproxy() as tiny:
        client_for(named_config, named_sim, HTTPS_PROXY=tiny.url,
                   NO_PROXY=no_proxy.format(name=NAME)).resolve(f"{REGISTRY}/app:1")
        assert tiny.connects() == [named_sim.hostport]


def test_a_proxy_that_denies_the_connect(named_sim: SimServer, named_config: Path) -> None:
    with running_tinyproxy(connect_ports=[443]) as tiny:
        with pytest.raises(ProxyError) as caught:
            client_for(named_config, named_sim, HTTPS_PROXY=tiny.url).resolve(
                f"{REGISTRY}/app:1")
        assert tiny.connects() == [named_sim.hostport]
    text = str(caught.value)
    assert tiny.url in text and "403" in text and named_sim.hostport in text
    assert named_sim.log == []


def test_proxy_credentials(named_sim: SimServer, named_config: Path,
                           caplog: pytest.LogCaptureFixture) -> None:
    secret = "pr0xy-s3cret"
    caplog.set_level(logging.DEBUG)
    with running_tinyproxy(basic_auth=("alice", secret)) as tiny:
        authed = tiny.url.replace("http://", f"http://alice:{secret}@")
        client = client_for(named_config, named_sim, HTTPS_PROXY=authed)
        assert client.resolve(f"{REGISTRY}/app:1").digest == f"sha256:{DIGEST}"
        assert secret not in repr(client) and secret not in repr(client.transport)
        with pytest.raises(ProxyError) as anonymous:
            client_for(named_config, named_sim, HTTPS_PROXY=tiny.url).resolve(
                f"{REGISTRY}/app:1")
        assert "407" in str(anonymous.value)
        wrong = tiny.url.replace("http://", "http://alice:wrong-s3cret@")
        with pytest.raises(ProxyError) as refused:
            client_for(named_config, named_sim, HTTPS_PROXY=wrong).resolve(f"{REGISTRY}/app:1")
    assert "wrong-s3cret" not in str(refused.value)
    assert secret not in caplog.text and "wrong-s3cret" not in caplog.text


def test_the_command_line_exits_5_naming_the_proxy(named_sim: SimServer, named_config: Path,
                                                   tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {REGISTRY}/app:1\n")
    with running_tinyproxy(connect_ports=[443]) as tiny:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "HTTP"))}
        env.update(DOCKER_CONFIG=str(named_config), DOCKER_CONTENT_TRUST_SERVER=named_sim.url,
                   HTTPS_PROXY=tiny.url.replace("http://", "http://u:hidden-pw@"),
                   HOME=str(tmp_path))
        result = subprocess.run([entry_point(), "check", str(context)],
                                env=env, capture_output=True, text=True, timeout=120,
                                check=False)
    assert result.returncode == ExitCode.TRUST_ERROR, result.stderr
    assert tiny.url in result.stdout + result.stderr
    assert "hidden-pw" not in result.stdout + result.stderr
