"""HTTP/1.1 on a connected socket: the part trust servers and the docker engine need.

trustbuild sends a handful of small GETs (and one form POST for token refresh) per command.
``http.client`` would do, but it parses headers with the ``email`` package, which with its
dependencies costs 7-11 ms of every start-up, more than a warm check's requests take
(docs/performance.md).  This module frames requests and responses itself, within the same
limits as ``http.client``: status and header lines of at most 64 KiB, at most 100 headers, no
CR or LF in header values sent, ``Content-Length`` or ``chunked`` bodies (anything else is read
to the end of the connection), interim 1xx responses skipped.  Callers cap what they read.
"""

from __future__ import annotations

import socket

MAX_LINE = 65536
MAX_HEADERS = 100
NO_BODY_STATUSES = frozenset({204, 304})


class ProtocolError(Exception):
    """The other side did not speak HTTP/1.1 as expected."""


class RemoteClosed(ProtocolError):
    """The connection ended before a response began (a kept-alive connection the server had
    closed meanwhile, typically)."""


class IncompleteBody(ProtocolError):
    """The connection ended inside a response body."""


class Connection:
    """One HTTP/1.1 connection; not thread-safe (a pool hands it to one thread at a time)."""

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.host = host
        self._reader = sock.makefile("rb")
        self.reusable = True  # as far as is known: a response may say otherwise

    def request(self, method: str, path: str, headers: dict[str, str],
                body: bytes | None = None) -> Response:
        """Send one request and read the response's head; the body is read by the caller."""
        self.send(self.encode_request(self.host, method, path, headers, body))
        return self.response(method)

    def send(self, *requests: bytes) -> None:
        """Send encoded requests back to back, in one write.  The server answers them in order
        (HTTP/1.1 pipelining): read each response, body included, with :meth:`response`
        before the next."""
        self.sock.sendall(b"".join(requests))

    @staticmethod
    def encode_request(host: str, method: str, path: str, headers: dict[str, str],
                       body: bytes | None = None) -> bytes:
        """A request as it goes on the wire; :class:`ValueError` for a path or header that
        cannot be sent as it is."""
        # Python counts every whitespace character but the space as unprintable.
        if not path.startswith("/") or not path.isprintable() or " " in path:
            raise ValueError(f"not a request path: {path[:80]!r}")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}",
                 "Accept-Encoding: identity"]
        for name, value in headers.items():
            if any(c in value or c in name for c in "\r\n\0"):
                raise ValueError(f"header {name!r} has a line break or NUL")
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + body if body is not None else head

    def response(self, method: str) -> Response:
        """The head of the next response, to a request sent with *method*."""
        while True:
            status_line = self._line(first=True)
            version, status, _ = _status(status_line)
            fields = self._headers()
            if 100 <= status < 200 and status != 101:
                continue  # interim response: the real one follows
            return Response(self, method, version, status, fields)

    def close(self) -> None:
        self.reusable = False
        self._reader.close()
        self.sock.close()

    def _line(self, *, first: bool = False) -> bytes:
        line = self._reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("a line of the response is too long")
        if not line:
            if first:
                raise RemoteClosed("the server closed the connection before answering")
            raise IncompleteBody("the server closed the connection inside a response")
        return line.rstrip(b"\r\n")

    def _headers(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self._line()
            if not line:
                return fields
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip() or line[:1] in b" \t":
                raise ProtocolError(f"malformed header line {line[:80]!r}")
            key, value = name.lower(), value.strip()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        raise ProtocolError(f"more than {MAX_HEADERS} headers")

    def _read(self, size: int) -> bytes:
        data = self._reader.read(size)
        if len(data) < size:
            raise IncompleteBody(f"the server sent {len(data)} of {size} body bytes")
        return data

    def _read_to_end(self, limit: int) -> bytes:
        return self._reader.read(limit)


class Response:
    def __init__(self, conn: Connection, method: str, version: str, status: int,
                 headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._conn = conn
        self.complete = False  # the whole body has been read
        self._length: int | None = None
        self._chunked = False
        self._to_end = False
        encoding = headers.get("transfer-encoding", "").lower()
        if method == "HEAD" or status in NO_BODY_STATUSES:
            self._length = 0
        elif encoding:
            if encoding != "chunked":
                raise ProtocolError(f"unsupported transfer encoding {encoding!r}")
            self._chunked = True
        elif "content-length" in headers:
            self._length = _content_length(headers["content-length"])
        else:
            self._to_end = True
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        if version != "HTTP/1.1" or "close" in tokens or self._to_end:
            conn.reusable = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def length(self) -> int | None:
        """The body's declared length, when it has one."""
        return self._length

    def read(self, limit: int) -> bytes:
        """The body, or its first ``limit + 1`` bytes when it is longer (the caller decides;
        the connection is then not reused)."""
        if self._chunked:
            data = self._read_chunked(limit)
        elif self._to_end:
            data = self._conn._read_to_end(limit + 1)
            self.complete = len(data) <= limit
        else:
            assert self._length is not None
            data = self._conn._read(min(self._length, limit + 1))
            self.complete = len(data) == self._length
        if not self.complete:
            self._conn.reusable = False
        return data

    def _read_chunked(self, limit: int) -> bytes:
        out = bytearray()
        while True:
            size_text = self._conn._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
            if size < 0 or size_text.startswith((b"+", b"-", b"0x", b"0X")):
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}")
            if size == 0:
                while self._conn._line():  # trailer fields, ignored
                    pass
                self.complete = True
                return bytes(out)
            take = min(size, limit + 1 - len(out))
            out += self._conn._read(take)
            if take < size:
                return bytes(out)  # over the limit: the rest stays unread
            if self._conn._read(2) != b"\r\n":
                raise ProtocolError("a chunk does not end with CRLF")


def _status(line: bytes) -> tuple[str, int, str]:
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 \
            or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""


def _content_length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(f"bad Content-Length {value[:40]!r}")
    return int(values.pop())
