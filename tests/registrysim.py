"""A small distribution-API registry on loopback, for the registry client's tests: manifests,
indexes and config blobs by digest (or tag), distribution's error codes, token auth with a
realm on the same server, redirects of blobs, and faults a test can script (content that is
not what its digest says, an oversize body, a slow answer).  http, or https with the test CA.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.notarysim.server import TLSFiles, http_serving

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_MANIFEST = re.compile(r"/v2/(.+)/manifests/([^/]+)")
_BLOB = re.compile(r"/v2/(.+)/blobs/([^/]+)")
_TAGS = re.compile(r"/v2/(.+)/tags/list")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_json(triggers: list[str] | None, marker: str = "", os: str = "linux",
                arch: str = "amd64") -> bytes:
    return json.dumps({"architecture": arch, "os": os,
                       "config": {"OnBuild": triggers, "Labels": {"marker": marker}},
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


@dataclass
class Image:
    """A manifest (docker v2 or OCI) with its config."""

    manifest: bytes
    config: bytes
    media_type: str = DOCKER_MANIFEST

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def image(triggers: list[str] | None, marker: str = "", *, media_type: str = DOCKER_MANIFEST,
          os: str = "linux", arch: str = "amd64") -> Image:
    config = config_json(triggers, marker, os, arch)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": DOCKER_CONFIG, "digest": digest_of(config),
                   "size": len(config)},
        "layers": []}).encode()
    return Image(manifest, config, media_type)


def index(entries: list[tuple[Image, str]], *, media_type: str = OCI_INDEX) -> bytes:
    """An index of (image, "os/arch[/variant]") entries."""
    manifests = []
    for entry, platform in entries:
        os, arch, *variant = platform.split("/")
        described: dict[str, object] = {"os": os, "architecture": arch}
        if variant:
            described["variant"] = variant[0]
        manifests.append({"mediaType": entry.media_type, "digest": entry.digest,
                          "size": len(entry.manifest), "platform": described})
    return json.dumps({"schemaVersion": 2, "mediaType": media_type,
                       "manifests": manifests}).encode()


@dataclass
class RegistrySim:
    tls: TLSFiles | None = None
    # (repository, tag or digest) -> (body, Content-Type)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    repositories: set[str] = field(default_factory=set)
    credentials: tuple[str, str] | None = None  # set: token auth, a Basic login at the realm
    tampered: dict[str, bytes] = field(default_factory=dict)  # digest -> bytes served instead
    delay: float = 0.0  # before every answer
    redirect_blobs_to: str | None = None  # another server's URL serving /_blob/<digest>
    requests: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)  # scopes asked of the token realm
    port: int = 0
    _token: str = "sim-registry-token"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.hostport}"

    def push(self, repository: str, entry: Image, tag: str | None = None) -> str:
        self.repositories.add(repository)
        self.blobs[digest_of(entry.config)] = entry.config
        self.manifests[(repository, entry.digest)] = (entry.manifest, entry.media_type)
        if tag:
            self.manifests[(repository, tag)] = (entry.manifest, entry.media_type)
        return entry.digest

    def push_index(self, repository: str, body: bytes, entries: list[Image],
                   tag: str | None = None) -> str:
        for entry in entries:
            self.push(repository, entry)
        media_type = json.loads(body)["mediaType"]
        self.manifests[(repository, digest_of(body))] = (body, media_type)
        if tag:
            self.manifests[(repository, tag)] = (body, media_type)
        return digest_of(body)


@contextlib.contextmanager
def serving(sim: RegistrySim) -> Iterator[RegistrySim]:
    ctx = None
    if sim.tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(sim.tls.cert), str(sim.tls.key))
    with http_serving(_handler_for(sim), ctx) as port:
        sim.port = port
        yield sim


def _handler_for(sim: RegistrySim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            sim.requests.append(self.path)
            if sim.delay:
                time.sleep(sim.delay)
            parts = urllib.parse.urlsplit(self.path)
            if parts.path == "/token":
                return self._token(urllib.parse.parse_qs(parts.query))
            if parts.path.startswith("/_blob/"):  # another host: credentials must not come
                if self.headers.get("Authorization"):
                    return self._error(400, "CREDENTIALS_LEAKED")
                return self._blob(parts.path.removeprefix("/_blob/"))
            if sim.credentials is not None and \
                    self.headers.get("Authorization") != f"Bearer {sim._token}":
                return self._challenge(parts.path)
            if parts.path == "/v2/":
                return self._send(200, b"{}")
            if match := _TAGS.fullmatch(parts.path):
                if match.group(1) not in sim.repositories:
                    return self._error(404, "NAME_UNKNOWN")
                tags = sorted(r for (repo, r) in sim.manifests
                              if repo == match.group(1) and ":" not in r)
                return self._send(200, json.dumps({"name": match.group(1),
                                                   "tags": tags}).encode())
            if match := _MANIFEST.fullmatch(parts.path):
                repo, ref = match.groups()
                if repo not in sim.repositories:
                    return self._error(404, "NAME_UNKNOWN")
                found = sim.manifests.get((repo, ref))
                if found is None:
                    return self._error(404, "MANIFEST_UNKNOWN")
                body, media_type = found
                return self._send(200, sim.tampered.get(ref, body), media_type)
            if match := _BLOB.fullmatch(parts.path):
                if sim.redirect_blobs_to:
                    self.send_response(307)
                    self.send_header("Location",
                                     f"{sim.redirect_blobs_to}/_blob/{match.group(2)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._blob(match.group(2))
            return self._error(404, "UNSUPPORTED")

        def _blob(self, digest: str) -> None:
            body = sim.tampered.get(digest, sim.blobs.get(digest))
            if body is None:
                return self._error(404, "BLOB_UNKNOWN")
            return self._send(200, body, "application/octet-stream")

        def _challenge(self, path: str) -> None:
            repo = next((m.group(1) for pattern in (_MANIFEST, _BLOB, _TAGS)
                         if (m := pattern.fullmatch(path))), "")
            self.send_response(401)
            scope = f',scope="repository:{repo}:pull"' if repo else ""
            self.send_header("WWW-Authenticate",
                             f'Bearer realm="{sim.url}/token",service="sim"{scope}')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _token(self, query: dict[str, list[str]]) -> None:
            assert sim.credentials is not None
            user, password = sim.credentials
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            sim.scopes.extend(query.get("scope", []))
            if self.headers.get("Authorization") != expected:
                return self._send(401, b'{"details": "bad credentials"}')
            return self._send(200, json.dumps({"token": sim._token,
                                               "expires_in": 300}).encode())

        def _error(self, status: int, code: str) -> None:
            self._send(status, json.dumps({"errors": [{"code": code, "message": code.lower(),
                                                       "detail": None}]}).encode())

        def _send(self, status: int, body: bytes,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def connect_proxy(routes: dict[str, int]) -> Iterator[str]:
    """An http CONNECT proxy on loopback that tunnels each ``host:port`` of *routes* to that
    loopback port and refuses any other (403): how tests give a registry a real host name
    (``reg.example``) without DNS or /etc/hosts.  Yields its URL, for ``HTTPS_PROXY``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def tunnel(client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, *_ = head.split(b"\r\n", 1)[0].decode().split(" ")
            port = routes.get(target)
            if method != "CONNECT" or port is None:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection(("127.0.0.1", port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
                back.start()
                pipe(client, upstream)
                back.join(timeout=30)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=tunnel, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
