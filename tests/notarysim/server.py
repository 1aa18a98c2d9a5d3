"""An HTTPS notary-server stand-in on loopback, serving :class:`SimRepo` files, with faults.

Routes as notary-server's: ``/v2/`` (ping), ``/v2/<gun>/_trust/tuf/<file>``, 404 with
``METADATA_NOT_FOUND`` otherwise.  Faults per file name: a status, a delay, a truncated or
oversized body, a wrong ``Content-Length``.  Optional token auth: 401 with a Bearer challenge,
and ``/token`` that checks Basic credentials.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.notarysim.repo import SimRepo

NOT_FOUND = json.dumps({"errors": [{"code": "METADATA_NOT_FOUND", "message":
                                    "You have requested metadata that does not exist.",
                                    "detail": {}}]}).encode()


@dataclass
class Fault:
    status: int = 200
    delay: float = 0.0
    body: bytes | None = None  # replaces the file
    truncate_to: int | None = None  # send fewer bytes than Content-Length says
    times: int = 1_000_000  # how many requests it applies to


@dataclass
class TLSFiles:
    ca_cert: Path
    cert: Path
    key: Path


def make_tls(directory: Path, host: str = "127.0.0.1") -> TLSFiles:
    """A private CA and a certificate for *host* signed by it (also usable as a client
    certificate)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notarysim test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(_alt_names(host)), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


def _alt_names(host: str) -> list[x509.GeneralName]:
    import ipaddress

    try:
        return [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
    except ValueError:
        return [x509.DNSName(host)]


@dataclass
class SimServer:
    tls: TLSFiles
    repos: dict[str, SimRepo] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    credentials: tuple[str, str] | None = None  # require token auth with these
    realm: str | None = None  # the token realm the challenge names (default: its /token)
    client_ca: Path | None = None  # require a client certificate issued by this CA (mTLS)
    log: list[str] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)  # the client port of each logged request
    max_in_flight: int = 0  # the most requests being answered at once
    port: int = 0
    host: str = "127.0.0.1"  # the name clients use (it always listens on 127.0.0.1)
    _tokens: set[str] = field(default_factory=set)
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def add(self, repo: SimRepo) -> SimRepo:
        self.repos[repo.gun] = repo
        return repo

    def requests_for(self, gun: str) -> list[str]:
        prefix = f"/v2/{gun}/_trust/tuf/"
        return [p.removeprefix(prefix) for p in self.log if p.startswith(prefix)]


@contextlib.contextmanager
def serving(server: SimServer) -> Iterator[SimServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(server.tls.cert), str(server.tls.key))
    if server.client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(server.client_ca))
    with http_serving(_handler_for(server), ctx) as port:
        server.port = port
        yield server


@contextlib.contextmanager
def http_serving(handler: type[BaseHTTPRequestHandler],
                 ctx: ssl.SSLContext | None) -> Iterator[int]:
    """Serve *handler* on a free loopback port (TLS with *ctx*) on a thread; yields the
    port."""
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if ctx is not None:
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return  # clients hang up on purpose in the oversize and timeout tests


def _handler_for(sim: SimServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            with sim._lock:
                sim.log.append(self.path.split("?", 1)[0])
                sim.peers.append(self.client_address[1])
                sim._in_flight += 1
                sim.max_in_flight = max(sim.max_in_flight, sim._in_flight)
            try:
                self._answer(self.path.split("?", 1)[0])
            finally:
                with sim._lock:
                    sim._in_flight -= 1

        def _answer(self, path: str) -> None:
            if path == "/token":
                self._token()
                return
            if sim.credentials is not None and path.startswith("/v2/") and not self._authed():
                gun = path.removeprefix("/v2/").split("/_trust/", 1)[0]
                realm = sim.realm or f"{sim.url}/token"
                challenge = (f'Bearer realm="{realm}",service="notarysim",'
                             f'scope="repository:{gun}:pull"')
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                           {"WWW-Authenticate": challenge})
                return
            if path == "/v2/":
                self._send(200, b"{}")
                return
            gun, sep, name = path.removeprefix("/v2/").partition("/_trust/tuf/")
            repo = sim.repos.get(gun)
            data = repo.files.get(name) if (sep and repo) else None
            fault = sim.faults.get(name)
            if fault is not None and fault.times > 0:
                fault.times -= 1
                time.sleep(fault.delay)
                if fault.status != 200:
                    self._send(fault.status, b'{"errors":[]}')
                    return
                if fault.body is not None:
                    data = fault.body
                if fault.truncate_to is not None and data is not None:
                    self._send(200, data, truncate_to=fault.truncate_to)
                    return
            if data is None:
                self._send(404, NOT_FOUND)
                return
            self._send(200, data)

        def _authed(self) -> bool:
            header = self.headers.get("Authorization", "")
            return header.startswith("Bearer ") and header[7:] in sim._tokens

        def _token(self) -> None:
            header = self.headers.get("Authorization", "")
            expected = "Basic " + base64.b64encode(
                ":".join(sim.credentials or ("", "")).encode()).decode()
            if header != expected:
                self._send(401, b'{"details":"incorrect username or password"}')
                return
            token = base64.b64encode(str(time.monotonic()).encode()).decode()
            sim._tokens.add(token)
            self._send(200, json.dumps({"token": token, "expires_in": 300}).encode())

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                  truncate_to: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if truncate_to is not None:
                self.wfile.write(body[:truncate_to])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler
