"""Hostile HTTP against the urllib3 layer (issue 15, items 5, 6 and 8, the HTTP parts): every
one ends in a trustbuild error for that server, in time, and never desynchronises a kept-alive
connection."""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import trust_config
from tests.notarysim.rawhttp import RawServer, Script, drip, raw_serving
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer, TLSFiles, serving
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.notary.transport import Transport, TransportConfig
from trustbuild._internal.reference import ImageReference
from trustbuild.errors import (
    AuthenticationError,
    ExitCode,
    NetworkError,
    RequestTimeout,
    TrustbuildError,
    TrustError,
)

REGISTRY = "reg.example:5000"
DIGEST = hashlib.sha256(b"image manifest").hexdigest()


@pytest.fixture()
def raw(tls: TLSFiles) -> Iterator[RawServer]:
    """A raw server; each test sets its ``script``."""
    with raw_serving(RawServer(tls, lambda *args: False)) as server:
        yield server


def transport(config: Path, **kw: float) -> Transport:
    return Transport(TransportConfig(docker_config=config, backoff=0.0, **kw))  # type: ignore[arg-type]


def get(t: Transport, server: RawServer, path: str = "/f", limit: int = 1024) -> bytes:
    return t.get(server.url + path, max_length=limit, scope="repository:x:pull",
                 registry="reg.example")


# -- item 5: deadlines ---------------------------------------------------------------------------

def endless_continue(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
    while True:
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.2)


def dripping_body(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
    drip(sock, b"x" * 200, 0.5, lambda: False)
    return False


def endless_trailer(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    while True:
        sock.sendall(b"X-More: yes\r\n")
        time.sleep(0.2)


@pytest.mark.parametrize("script", [endless_continue, dripping_body, endless_trailer])
def test_each_request_ends_at_its_deadline(raw: RawServer, tls: TLSFiles, tmp_path: Path,
                                           script: Script) -> None:
    raw.script = script
    t = transport(trust_config(tmp_path, tls, raw.hostport), request_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as caught:
        get(t, raw)
    waited = time.monotonic() - started
    assert 1.4 < waited < 10, waited
    assert raw.hostport in str(caught.value) and "1.5 s" in str(caught.value)
    assert caught.value.exit_code == ExitCode.TRUST_ERROR


def test_the_whole_run_has_a_deadline_too(raw: RawServer, tls: TLSFiles,
                                          tmp_path: Path) -> None:
    """Each repository's requests share the run's deadline: three slow repositories, each
    answered within its request timeout, cannot make the run longer than the run's."""
    raw.script = dripping_body
    config = trust_config(tmp_path, tls, raw.hostport)
    client = TrustClient(docker_config=config, run_timeout=2.0,
                         env={"DOCKER_CONTENT_TRUST_SERVER": raw.url})
    started = time.monotonic()
    answers = client.resolve_many([f"{REGISTRY}/slow{i}:1" for i in range(3)])
    assert time.monotonic() - started < 10
    assert all(isinstance(a, RequestTimeout) for a in answers.values()), answers


def test_the_run_deadline_is_configurable_from_the_environment(tmp_path: Path) -> None:
    assert TrustClient(docker_config=tmp_path, env={"TRUSTBUILD_TIMEOUT": "7.5"}) \
        .run_timeout == 7.5
    from trustbuild.errors import UsageError

    for bad in ("soon", "0", "-1", "inf"):
        with pytest.raises(UsageError, match=r"TRUSTBUILD_TIMEOUT|positive"):
            TrustClient(docker_config=tmp_path, env={"TRUSTBUILD_TIMEOUT": bad})


# -- item 6: what used to escape as a traceback ------------------------------------------------

def non_ascii_length(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
    sock.sendall("HTTP/1.1 200 OK\r\nContent-Length: ٣\r\n\r\nabc".encode())
    return False


def test_a_non_ascii_digit_in_content_length_is_a_verdict_for_that_repository(
        raw: RawServer, sim: SimServer, tls: TLSFiles, tmp_path: Path) -> None:
    raw.script = non_ascii_length
    good = sim.add(SimRepo(f"{REGISTRY}/good"))
    good.sign_tag("1", DIGEST)
    good.publish()
    config = trust_config(tmp_path, tls, raw.hostport, sim.hostport)

    def server_for(ref: ImageReference) -> str:
        return sim.url if ref.path == "good" else raw.url

    client = TrustClient(docker_config=config, env={}, server_for=server_for)
    answers = client.resolve_many([f"{REGISTRY}/bad:1", f"{REGISTRY}/good:1"])
    bad = answers[f"{REGISTRY}/bad:1"]
    assert isinstance(bad, NetworkError) and "Content-Length" in str(bad)
    assert bad.exit_code == ExitCode.TRUST_ERROR and raw.hostport in str(bad)
    good_answer = answers[f"{REGISTRY}/good:1"]
    assert not isinstance(good_answer, TrustError) and good_answer.digest == f"sha256:{DIGEST}"


def test_a_token_realm_with_port_99999_is_a_verdict_for_that_repository(
        tls: TLSFiles, sim: SimServer, tmp_path: Path) -> None:
    with serving(SimServer(tls, credentials=("a", "b"), realm="https://127.0.0.1:99999/token"
                           )) as authed:
        for server, name in ((authed, "bad"), (sim, "good")):
            r = server.add(SimRepo(f"{REGISTRY}/{name}"))
            r.sign_tag("1", DIGEST)
            r.publish()
        config = trust_config(tmp_path, tls, authed.hostport, sim.hostport)

        def server_for(ref: ImageReference) -> str:
            return sim.url if ref.path == "good" else authed.url

        answers = TrustClient(docker_config=config, env={}, server_for=server_for) \
            .resolve_many([f"{REGISTRY}/bad:1", f"{REGISTRY}/good:1"])
    bad = answers[f"{REGISTRY}/bad:1"]
    assert isinstance(bad, AuthenticationError) and "99999" in str(bad), bad
    assert bad.exit_code == ExitCode.TRUST_ERROR
    assert not isinstance(answers[f"{REGISTRY}/good:1"], TrustError)


# -- item 8: framing --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [204, 304])
def test_a_bodyless_status_with_a_body_does_not_desynchronise_the_connection(
        raw: RawServer, tls: TLSFiles, tmp_path: Path, status: int) -> None:
    """The first answer carries a body it may not have, shaped like a second answer: read
    on the same connection, that would be taken for the answer to the next request."""
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"

    def script(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
        if path == "/first":
            sock.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode()
                         + smuggled)
            time.sleep(0.3)  # the request for /second would come in meanwhile
            return True
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
        return True

    raw.script = script
    t = transport(trust_config(tmp_path, tls, raw.hostport))
    with pytest.raises(TrustError):
        get(t, raw, "/first")
    assert get(t, raw, "/second") == b"good"
    assert raw.connections == 2


@pytest.mark.parametrize("size", [b"1_0", b"+a", b"0x10", b" 10", b"-1", b"\xd9\xa3",
                                  b"10000000000000000"])
def test_chunk_sizes_are_hex_digits_only(raw: RawServer, tls: TLSFiles, tmp_path: Path,
                                         size: bytes) -> None:
    def script(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size
                     + b"\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n")
        return False

    raw.script = script
    with pytest.raises(NetworkError, match="chunk size"):
        get(transport(trust_config(tmp_path, tls, raw.hostport)), raw)


@pytest.mark.parametrize("size", [b"10", b"10;name=value", b"A \t;x", b"0010"])
def test_valid_chunk_sizes_are_read(raw: RawServer, tls: TLSFiles, tmp_path: Path,
                                    size: bytes) -> None:
    def script(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
        count = int(size.split(b";")[0].strip(), 16)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size
                     + b"\r\n" + b"x" * count + b"\r\n0\r\nX-Trailer: 1\r\n\r\n")
        return True

    raw.script = script
    t = transport(trust_config(tmp_path, tls, raw.hostport))
    count = int(size.split(b";")[0].strip(), 16)
    assert get(t, raw) == b"x" * count
    assert get(t, raw) == b"x" * count
    assert raw.connections == 1  # read to its end: the connection served again


@pytest.mark.parametrize("header", [b"Content-Length: 5, 6", b"Content-Length: +5",
                                    b"Content-Length: 5\r\nTransfer-Encoding: chunked",
                                    b"Transfer-Encoding: gzip, chunked"])
def test_ambiguous_framing_is_refused(raw: RawServer, tls: TLSFiles, tmp_path: Path,
                                      header: bytes) -> None:
    def script(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\n" + header + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        return False

    raw.script = script
    with pytest.raises(NetworkError):
        get(transport(trust_config(tmp_path, tls, raw.hostport)), raw)


# -- fuzzing: mutated responses and challenges, only trustbuild's own errors ---------------------

_TOKENS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"200", b"401", b"404", b"204",
                           b"100", b"999", b"-1", b"OK", b"\r\n", b"\n", b":", b" ", b"\t",
                           b"Content-Length", b"Transfer-Encoding", b"chunked",
                           b"WWW-Authenticate", b"Connection", b"close", b"0", b"1_0",
                           b"\xd9\xa3", b"\x00", b"\xff", b";", b",", b"="])
_LOOPBACK = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "127.0.0.1:{port}",
                             "localhost:{port}"])


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([b"200 OK", b"401 Unauthorized", b"404 Not Found",
                                   b"503 Busy", b"204 No Content", b"100 Continue",
                                   b"302 Found"]))
    body = draw(st.binary(max_size=64))
    headers = draw(st.lists(st.sampled_from([
        b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 3),
        b"Transfer-Encoding: chunked", b"Connection: close", b"Content-Encoding: gzip",
        b"Location: https://127.0.0.1/x"]), max_size=3))
    head = b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
    if draw(st.booleans()):
        head += b"WWW-Authenticate: " + draw(challenges()) + b"\r\n"
    raw = head + b"\r\n" + body
    if draw(st.booleans()):  # mutate: insert, delete or replace a few pieces
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(raw)))
            piece = draw(_TOKENS)
            raw = raw[:at] + piece + raw[at + draw(st.integers(0, 3)):]
    return raw


@st.composite
def challenges(draw: st.DrawFn) -> bytes:
    scheme = draw(st.sampled_from(["Bearer", "Basic", "bearer", "Digest", "", "Bearer,"]))
    port = draw(st.one_of(st.integers(-5, 100000).map(str),
                          st.text(alphabet="0123456789٣_+ ", max_size=6)))
    host = draw(_LOOPBACK).format(port=port)
    realm = draw(st.sampled_from(["https", "http", "ftp", "HTTPS"])) + "://" + host + \
        draw(st.text(alphabet="/abc?=&%\"\\ \t", max_size=8))
    params = [f'realm="{realm}"', 'service="svc"', 'scope="repository:x:pull,push"',
              f"realm={realm}", 'error="invalid_token"', '="', "realm"]
    chosen = draw(st.lists(st.sampled_from(params), max_size=4))
    return (scheme + " " + ",".join(chosen)).encode("utf-8", "replace")


def test_fuzzed_responses_and_challenges_end_in_trustbuild_errors(
        raw: RawServer, tls: TLSFiles, tmp_path: Path) -> None:
    answers: list[bytes] = [b""]

    def script(conn: int, n: int, path: str, sock: ssl.SSLSocket) -> bool:
        sock.sendall(answers[0])
        return False

    raw.script = script
    t = transport(trust_config(tmp_path, tls, raw.hostport, "localhost",
                               f"localhost:{raw.port}"),
                  request_timeout=2.0, read_timeout=1.0, connect_timeout=1.0)

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(responses())
    def check(response: bytes) -> None:
        answers[0] = response
        with contextlib.suppress(TrustbuildError):  # anything else fails the test
            get(t, raw)

    check()


def test_what_servers_send_is_a_trust_error_never_a_traceback() -> None:
    """A malformed token realm or redirect, and JSON nested past Python's recursion limit,
    from a trust server or a registry, are trustbuild's errors for that repository."""
    from trustbuild._internal import registry
    from trustbuild._internal.notary import transport
    from trustbuild.errors import AuthenticationError, RegistryError

    with pytest.raises(AuthenticationError):
        transport._realm("https://[bad/token")
    with pytest.raises(RegistryError):
        registry._follow("https://reg.example/v2/a/manifests/1", "https://[::1/x")
    with pytest.raises(RegistryError):
        registry._json_object(b"[" * 5000, "manifest")
    assert registry.error_codes(b"[" * 5000) == set()


def test_a_redirect_never_goes_from_https_down_to_http() -> None:
    from trustbuild._internal import registry
    from trustbuild.errors import RegistryError

    with pytest.raises(RegistryError, match="from https"):
        registry._follow("https://reg.example/v2/a/blobs/x", "http://127.0.0.1:8080/secret")
    assert registry._follow("https://reg.example/v2/a/blobs/x", "/v2/b") == \
        "https://reg.example/v2/b"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("[::1]", True),
    ("::ffff:127.0.0.1", True), ("localhost", True), ("10.0.0.1", False),
    ("reg.example", False)])
def test_one_notion_of_loopback_for_proxies_and_plain_http(host: str, loopback: bool) -> None:
    from trustbuild._internal.proxy import is_loopback

    assert is_loopback(host) is loopback
