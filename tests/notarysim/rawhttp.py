"""A TLS server on loopback that answers with whatever bytes a test scripts, however slowly:
for hostile HTTP (framing tricks, endless interim responses, dripping bodies)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.notarysim.server import TLSFiles

# (connection number, request number on that connection, request path, socket) -> keep the
# connection open for another request?
Script = Callable[[int, int, str, ssl.SSLSocket], bool]


@dataclass
class RawServer:
    tls: TLSFiles
    script: Script
    port: int = 0
    requests: list[tuple[int, str]] = field(default_factory=list)  # (connection, path)
    connections: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.hostport}"

    def stopped(self) -> bool:
        return self._stop.is_set()


@contextlib.contextmanager
def raw_serving(server: RawServer) -> Iterator[RawServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(server.tls.cert), str(server.tls.key))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    server.port = listener.getsockname()[1]
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not server._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server.connections += 1
            thread = threading.Thread(target=serve, args=(conn, server.connections),
                                      daemon=True)
            threads.append(thread)
            thread.start()

    def serve(conn: socket.socket, number: int) -> None:
        try:
            conn.settimeout(10)
            tls = ctx.wrap_socket(conn, server_side=True)
            reader = tls.makefile("rb")
            count = 0
            while not server._stop.is_set():
                request_line = reader.readline(65536)
                if not request_line:
                    return
                length = 0
                while True:
                    line = reader.readline(65536)
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    reader.read(length)
                path = request_line.decode("latin-1").split(" ")[1] \
                    if b" " in request_line else ""
                server.requests.append((number, path))
                count += 1
                if not server.script(number, count, path, tls):
                    return
        except (OSError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        server._stop.set()
        listener.close()
        acceptor.join(timeout=5)


def drip(sock: ssl.SSLSocket, data: bytes, every: float, stop: Callable[[], bool]) -> None:
    """Send *data* one byte at a time, *every* seconds apart, until sent or *stop*()."""
    import time

    for byte in data:
        if stop():
            return
        sock.sendall(bytes([byte]))
        time.sleep(every)
