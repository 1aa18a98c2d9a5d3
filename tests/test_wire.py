"""trustbuild._internal.wire: HTTP/1.1 framing, against canned responses on a socket pair."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from trustbuild._internal import wire


@pytest.fixture()
def pair() -> Iterator[tuple[wire.Connection, socket.socket]]:
    client, server = socket.socketpair()
    client.settimeout(5)
    conn = wire.Connection(client, "trust.example:4443")
    yield conn, server
    conn.close()
    server.close()


def answer(server: socket.socket, raw: bytes, *, close: bool = False) -> None:
    server.sendall(raw)
    if close:
        server.shutdown(socket.SHUT_WR)


def test_request_bytes_and_a_sized_body(pair: tuple[wire.Connection, socket.socket]) -> None:
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello")
    resp = conn.request("POST", "/token?x=1", {"User-Agent": "t/1"}, b"a=b")
    sent = server.recv(65536)
    assert sent == (b"POST /token?x=1 HTTP/1.1\r\nHost: trust.example:4443\r\n"
                    b"Accept-Encoding: identity\r\nUser-Agent: t/1\r\nContent-Length: 3\r\n"
                    b"\r\na=b")
    assert (resp.status, resp.length, resp.header("x-a")) == (200, 5, "1, 2")
    assert resp.read(100) == b"hello" and resp.complete and conn.reusable


def test_kept_alive_connection_serves_twice(pair: tuple[wire.Connection, socket.socket]) -> None:
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                   b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
    assert conn.request("GET", "/a", {}).read(10) == b"a"
    second = conn.request("GET", "/b", {})
    assert (second.status, second.read(10)) == (404, b"no")


def test_pipelined_requests_in_one_write_answered_in_order(
        pair: tuple[wire.Connection, socket.socket]) -> None:
    conn, server = pair
    encode = wire.Connection.encode_request
    conn.send(*(encode(conn.host, "GET", f"/{name}", {}) for name in ("a", "b", "c")))
    sent = server.recv(65536)
    assert sent.count(b"GET /") == 3 and sent.index(b"GET /a") < sent.index(b"GET /c")
    answer(server, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
                   b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
                   b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nC\r\n0\r\n\r\n")
    got = []
    for _ in range(3):
        resp = conn.response("GET")
        got.append((resp.status, resp.read(10)))
    assert got == [(200, b"A"), (404, b"no"), (200, b"C")] and conn.reusable


def test_chunked_with_extensions_and_trailers(pair: tuple[wire.Connection, socket.socket]
                                              ) -> None:
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n")
    resp = conn.request("GET", "/", {})
    assert resp.read(100) == b"wikipedia" and resp.complete and conn.reusable


def test_body_to_the_end_of_the_connection(pair: tuple[wire.Connection, socket.socket]) -> None:
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\n\r\nall of it", close=True)
    resp = conn.request("GET", "/", {})
    assert resp.read(100) == b"all of it" and resp.complete and not conn.reusable


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
])
def test_longer_than_the_limit_stops_at_limit_plus_one(
        pair: tuple[wire.Connection, socket.socket], head: bytes) -> None:
    conn, server = pair
    answer(server, head + b"x" * 20, close=True)
    resp = conn.request("GET", "/", {})
    assert resp.read(10) == b"x" * 11
    assert not resp.complete and not conn.reusable


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
])
def test_truncated_bodies(pair: tuple[wire.Connection, socket.socket], raw: bytes) -> None:
    conn, server = pair
    answer(server, raw, close=True)
    with pytest.raises(wire.IncompleteBody):
        conn.request("GET", "/", {}).read(100)


def test_closed_before_answering(pair: tuple[wire.Connection, socket.socket]) -> None:
    conn, server = pair
    answer(server, b"", close=True)
    with pytest.raises(wire.RemoteClosed):
        conn.request("GET", "/", {})


@pytest.mark.parametrize("raw", [
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: value\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
])
def test_malformed_responses(pair: tuple[wire.Connection, socket.socket], raw: bytes) -> None:
    conn, server = pair
    answer(server, raw, close=True)
    with pytest.raises(wire.ProtocolError):
        conn.request("GET", "/", {}).read(10)


@pytest.mark.parametrize("chunks", [b"zz\r\nab\r\n0\r\n\r\n", b"2\r\nabXY0\r\n\r\n",
                                    b"-2\r\nab\r\n0\r\n\r\n"])
def test_malformed_chunks(pair: tuple[wire.Connection, socket.socket], chunks: bytes) -> None:
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks,
           close=True)
    with pytest.raises(wire.ProtocolError):
        conn.request("GET", "/", {}).read(10)


@pytest.mark.parametrize(("raw", "reusable"), [
    (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.1 204 No Content\r\n\r\n", True),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
])
def test_when_a_connection_may_serve_again(pair: tuple[wire.Connection, socket.socket],
                                           raw: bytes, reusable: bool) -> None:
    conn, server = pair
    answer(server, raw)
    resp = conn.request("GET", "/", {})
    assert resp.read(10) == b"" and resp.status in (200, 204)
    assert conn.reusable is reusable


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\0b"])
def test_header_values_cannot_inject_lines(pair: tuple[wire.Connection, socket.socket],
                                           value: str) -> None:
    conn, server = pair
    with pytest.raises(ValueError):
        conn.request("GET", "/", {"Authorization": value})
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.recv(10)  # nothing was sent


@pytest.mark.parametrize("path", ["/a b", "/a\r\nX: y", "no-slash", "/a\x7f", "/a\tb",
                                  "/a\u00a0b", "/a\u2028b", "/a\u3000b"])
def test_request_paths_are_one_token(pair: tuple[wire.Connection, socket.socket],
                                     path: str) -> None:
    conn, _ = pair
    with pytest.raises(ValueError):
        conn.request("GET", path, {})
