"""HTTPS to trust servers: kept-alive connections per host, bounded reads, token auth.

* TLS is always verified: the system store plus ``$DOCKER_CONFIG/tls/<host:port>/*.crt``, and
  a client certificate from ``*.cert`` + ``*.key`` there (docker's layout).  Unlike docker,
  loopback servers are not exempt.
* Every download has a size cap; a larger ``Content-Length`` or body fails before it is read.
* Only idempotent GETs are sent, and retried only after a connection failure or a 502/503/504.
* ``WWW-Authenticate: Bearer`` challenges are answered with a token for
  ``repository:<gun>:pull`` from the challenge's realm, using the registry's credentials.

On ``ssl`` and ``wire``: a check sends one small GET per repository, and neither
urllib3 (about 25 ms to import) nor ``http.client`` (7-11 ms, for its ``email`` header parser)
is worth that in start-up time (docs/performance.md).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trustbuild._internal import wire
from trustbuild._internal.notary.credentials import Credentials
from trustbuild._version import __version__
from trustbuild.errors import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    TLSError,
    TrustError,
)

USER_AGENT = f"trustbuild/{__version__}"
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_TOKEN_RESPONSE = 64 * 1024
MAX_ERROR_BODY = 1024
MAX_IDLE_PER_HOST = 8
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
# What a kept-alive connection the server has closed meanwhile looks like on reuse.
_STALE = (wire.RemoteClosed, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True, slots=True)
class TransportConfig:
    docker_config: Path
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.25


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    challenge: str  # WWW-Authenticate


class _HostConnections:
    """Idle kept-alive connections to one server; thread-safe."""

    def __init__(self, hostport: str, host: str, port: int, context: ssl.SSLContext,
                 config: TransportConfig) -> None:
        self.hostport, self.host, self.port = hostport, host, port
        self.context, self.config = context, config
        self._idle: list[wire.Connection] = []
        self._lock = threading.Lock()

    def idle(self) -> wire.Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def connect(self) -> wire.Connection:
        """A new TLS connection: connect and handshake within the connect timeout."""
        sock = socket.create_connection((self.host, self.port),
                                        timeout=self.config.connect_timeout)
        try:
            # Small writes back to back (the handshake's last message, then the request)
            # would otherwise wait out the server's delayed ACK: 40 ms a connection.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        tls.settimeout(self.config.read_timeout)
        return wire.Connection(tls, self.hostport)

    def release(self, conn: wire.Connection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_PER_HOST:
                self._idle.append(conn)
                return
        conn.close()


@dataclass(slots=True)
class Transport:
    """Thread-safe: share one per process."""

    config: TransportConfig
    credentials: Callable[[str], Credentials | None] = field(default=lambda registry: None)
    requests: int = 0  # counted for the benchmarks
    waited: float = 0.0  # seconds between sending requests and their answers, all together
    timed: int = 0  # the requests ``waited`` covers (not those sent in a batch)
    # Per-server TLS files from the policy, by host:port: (CA, client cert, client key).
    tls_files: dict[str, tuple[Path | None, Path | None, Path | None]] = field(
        default_factory=dict)
    _hosts: dict[str, _HostConnections] = field(default_factory=dict, init=False)
    _tokens: dict[tuple[str, str, str], _Token] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def get(self, url: str, *, max_length: int, scope: str, registry: str) -> bytes:
        """GET *url* (https only) and return its body, at most *max_length* bytes."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise NetworkError(f"refusing to fetch trust data over {parts.scheme or 'no'} "
                               f"scheme: {url}")
        hostport = parts.netloc
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = self._get_headers(hostport, scope)
        resp = self._request(hostport, path, headers, max_length)
        if resp.status == 401 and resp.challenge:
            headers["Authorization"] = self._authorize(hostport, resp.challenge, scope,
                                                       registry)
            resp = self._request(hostport, path, headers, max_length)
            if resp.status in (401, 403):
                raise AuthenticationError(f"authentication refused by {hostport} for {scope}")
        return self._check_status(resp, url)

    def mean_wait(self) -> float | None:
        """Mean seconds a request waited for its answer (server time and round trip)."""
        with self._lock:
            return self.waited / self.timed if self.timed else None

    def send_batch(self, hostport: str, requests: Sequence[tuple[str, str]], *,
                   max_length: int) -> Batch:
        """Send GETs for *requests* (path, token scope) to *hostport* back to back on one
        connection, and return before any answer: the server works on them while the caller
        does something else, then :meth:`Batch.bodies` reads them, in order.

        For fetching ahead: nothing is raised and nothing is retried.  A request without a
        usable answer (an error status, a failure, more than *max_length* bytes) has none, and
        the caller asks for it again the usual way."""
        paths = [path for path, _ in requests]
        try:
            hosts = self._connections(hostport)
            wire_requests = [
                wire.Connection.encode_request(hosts.hostport, "GET", path,
                                               self._get_headers(hostport, scope))
                for path, scope in requests]
            conn = hosts.idle() or hosts.connect()
        except (TrustError, OSError, ValueError):
            return Batch(None, None, paths, max_length)
        with self._lock:
            self.requests += len(requests)
        try:
            conn.send(*wire_requests)
        except OSError:  # ssl.SSLError and timeouts included
            conn.close()
            return Batch(None, None, paths, max_length)
        return Batch(hosts, conn, paths, max_length)

    def _get_headers(self, hostport: str, scope: str) -> dict[str, str]:
        """A GET's headers: who asks, and the token for *scope* if one is held."""
        headers = {"User-Agent": USER_AGENT}
        token = self._cached_token(hostport, scope)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _check_status(self, resp: _Response, url: str) -> bytes:
        status = resp.status
        if status == 200:
            return resp.body
        if status == 404:
            raise NotFoundError(f"{url}: not found")
        if status in (401, 403):
            raise AuthenticationError(f"{url}: the server refused access ({status})")
        detail = resp.body[:200].decode(errors="replace").strip()
        raise ServerError(f"{url}: the server answered {status}" +
                          (f": {detail}" if detail else ""))

    # -- connections --------------------------------------------------------------------------

    def _connections(self, hostport: str) -> _HostConnections:
        with self._lock:
            known = self._hosts.get(hostport)
            if known is None:
                parts = urllib.parse.urlsplit(f"https://{hostport}")
                known = self._hosts[hostport] = _HostConnections(
                    hostport, parts.hostname or hostport, parts.port or 443,
                    self._ssl_context(hostport), self.config)
            return known

    def _ssl_context(self, hostport: str) -> ssl.SSLContext:
        """One context per (host, certificate files) per process: loading the system store
        costs tens of milliseconds, every new client would pay it again."""
        tls_dir = self.config.docker_config / "tls" / hostport
        override = self.tls_files.get(hostport)
        key = (str(tls_dir), _files_signature(tls_dir), repr(override))
        with _CONTEXTS_LOCK:
            ctx = _CONTEXTS.get(key)
            if ctx is None:
                ctx = _CONTEXTS[key] = self._new_ssl_context(tls_dir, override)
            return ctx

    @staticmethod
    def _new_ssl_context(tls_dir: Path, override: tuple[Path | None, Path | None,
                                                          Path | None] | None,
                         ) -> ssl.SSLContext:
        """CA files in ``tls/<host:port>/`` (or the policy's ``ca`` for the server) are the
        only roots trusted for that server (a pin, stricter than docker, which adds them to
        the system store); without any, the system store."""
        if override is not None and override != (None, None, None):
            return _policy_context(*override)
        cas = sorted(tls_dir.glob("*.crt")) if tls_dir.is_dir() else []
        # PROTOCOL_TLS_CLIENT verifies the chain and the host name, like the default context.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if cas else ssl.create_default_context()
        if tls_dir.is_dir():
            for ca in cas:
                try:
                    ctx.load_verify_locations(cafile=str(ca))
                except (OSError, ssl.SSLError) as exc:
                    raise TLSError(f"cannot load CA certificate {ca}: {exc}") from None
            for cert in sorted(tls_dir.glob("*.cert")):
                key = cert.with_suffix(".key")
                if not key.exists():
                    raise TLSError(f"client certificate {cert} has no key {key.name}")
                try:
                    ctx.load_cert_chain(str(cert), str(key))
                except (OSError, ssl.SSLError) as exc:
                    raise TLSError(f"cannot load client certificate {cert}: {exc}") from None
        return ctx

    def _request(self, hostport: str, path: str, headers: dict[str, str],
                 max_length: int) -> _Response:
        attempt = 0
        while True:
            try:
                return self._request_once(hostport, "GET", path, headers, None, max_length)
            except _Retryable as retry:
                if attempt >= self.config.retries:
                    raise retry.error from None
                attempt += 1
                time.sleep(self.config.backoff * attempt)

    def _request_once(self, hostport: str, method: str, path: str, headers: dict[str, str],
                      body: bytes | None, max_length: int) -> _Response:
        hosts = self._connections(hostport)
        url = f"https://{hostport}{path}"
        with self._lock:
            self.requests += 1
        conn: wire.Connection | None = None
        try:
            conn, resp = self._exchange(hosts, method, path, headers, body)
            status = resp.status
            if status in RETRY_STATUSES and method == "GET":
                raise _Retryable(ServerError(f"{url}: the server answered {status}"))
            limit = max_length if status == 200 else MAX_ERROR_BODY
            if status == 200 and resp.length is not None and resp.length > limit:
                raise ResponseTooLarge(f"{url}: {resp.length} bytes is more than the {limit} "
                                       "allowed")
            data = resp.read(limit)
            if len(data) > limit:
                if status == 200:
                    raise ResponseTooLarge(f"{url}: more than the {limit} bytes allowed")
                data = data[:limit]
            if resp.complete and conn.reusable:
                hosts.release(conn)  # read to the end: the connection can serve again
                conn = None
            return _Response(status, data, resp.header("WWW-Authenticate") or "")
        except ssl.SSLError as exc:
            raise TLSError(f"TLS failure talking to {hostport}: {_tls_reason(exc)}") from None
        except TimeoutError:
            raise RequestTimeout(f"{hostport} did not answer within the timeout") from None
        except wire.IncompleteBody as exc:
            raise NetworkError(f"{url}: incomplete response: {exc}") from None
        except ValueError as exc:  # a path or header value that cannot be sent
            raise NetworkError(f"refusing to send a request to {hostport}: {exc}") from None
        except (OSError, wire.ProtocolError) as exc:
            error = NetworkError(f"cannot reach {hostport}: {_reason(exc)}")
            if method != "GET":
                raise error from None
            raise _Retryable(error) from None
        finally:
            if conn is not None:
                conn.close()  # never hand a half-read connection back

    def _exchange(self, hosts: _HostConnections, method: str, path: str,
                  headers: dict[str, str], body: bytes | None,
                  ) -> tuple[wire.Connection, wire.Response]:
        """Send on an idle connection if there is one (once more on a new one if the server
        had closed it), else on a new connection."""
        conn = hosts.idle()
        if conn is not None:
            try:
                return conn, self._send(conn, method, path, headers, body)
            except _STALE:
                conn.close()
        conn = hosts.connect()
        try:
            return conn, self._send(conn, method, path, headers, body)
        except BaseException:
            conn.close()
            raise

    def _send(self, conn: wire.Connection, method: str, path: str, headers: dict[str, str],
              body: bytes | None) -> wire.Response:
        started = time.monotonic()
        resp = conn.request(method, path, headers, body)
        with self._lock:
            self.waited += time.monotonic() - started
            self.timed += 1
        return resp

    # -- token auth ---------------------------------------------------------------------------

    def _cached_token(self, hostport: str, scope: str) -> str | None:
        with self._lock:
            for (host, _, token_scope), token in self._tokens.items():
                if host == hostport and token_scope == scope \
                        and token.expires_at > time.monotonic():
                    return token.value
        return None

    def _authorize(self, hostport: str, challenge: str, scope: str, registry: str) -> str:
        scheme, params = parse_challenge(challenge)
        creds = self.credentials(registry)
        if scheme == "basic":
            if creds is None or not creds.username:
                raise AuthenticationError(f"{hostport} wants credentials: run docker login "
                                          f"{registry}")
            raw = f"{creds.username}:{creds.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        if scheme != "bearer" or "realm" not in params:
            raise AuthenticationError(f"{hostport} sent an authentication challenge trustbuild "
                                      f"cannot answer: {challenge[:100]}")
        token = self._fetch_token(params["realm"], params.get("service", ""), scope, creds)
        with self._lock:
            self._tokens[(hostport, params.get("service", ""), scope)] = token
        return f"Bearer {token.value}"

    def _fetch_token(self, realm: str, service: str, scope: str,
                     creds: Credentials | None) -> _Token:
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme != "https" or not parts.netloc:
            raise AuthenticationError(f"token realm {realm!r} is not an https URL")
        headers = {"User-Agent": USER_AGENT}
        query = {"service": service, "scope": scope}
        if creds and creds.identity_token:
            # docker's refresh-token grant is a POST; a GET with the token is not the same
            # thing, so send the grant and nothing else.
            return self._post_refresh_token(parts, service, scope, creds.identity_token)
        if creds and creds.username:
            query["account"] = creds.username
            raw = f"{creds.username}:{creds.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        path = parts.path + "?" + urllib.parse.urlencode(query)
        resp = self._request(parts.netloc, path, headers, MAX_TOKEN_RESPONSE)
        return self._token_from(resp, realm)

    def _post_refresh_token(self, parts: urllib.parse.SplitResult, service: str, scope: str,
                            refresh: str) -> _Token:
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh,
                                       "client_id": "trustbuild", "service": service,
                                       "scope": scope})
        headers = {"User-Agent": USER_AGENT,
                   "Content-Type": "application/x-www-form-urlencoded"}
        try:
            resp = self._request_once(parts.netloc, "POST", parts.path or "/", headers,
                                      form.encode(), MAX_TOKEN_RESPONSE)
        except NetworkError as exc:
            raise NetworkError(f"cannot reach token service {parts.netloc}: {exc}") from None
        except ResponseTooLarge:
            raise AuthenticationError(f"the token service {parts.geturl()} sent too much") \
                from None
        return self._token_from(resp, parts.geturl())

    @staticmethod
    def _token_from(resp: _Response, realm: str) -> _Token:
        status, body = resp.status, resp.body
        if status in (401, 403):
            raise AuthenticationError(f"the token service {realm} refused the credentials")
        if status != 200:
            raise AuthenticationError(f"the token service {realm} answered {status}")
        try:
            data = json.loads(body)
            value = data.get("token") or data.get("access_token")
            expires_in = float(data.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            raise AuthenticationError(f"the token service {realm} sent no token") from None
        if not isinstance(value, str) or not value:
            raise AuthenticationError(f"the token service {realm} sent no token")
        if not value.isprintable() or not value.isascii():
            raise AuthenticationError(f"the token service {realm} sent an unusable token")
        return _Token(value, time.monotonic() + max(expires_in - 5, 1))


def _policy_context(ca: Path | None, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if ca else ssl.create_default_context()
    try:
        if ca:
            ctx.load_verify_locations(cafile=str(ca))
        if cert and key:
            ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the TLS files the policy names: {exc}") from None
    return ctx


_CONTEXTS: dict[tuple[str, tuple[tuple[str, int, int], ...], str], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def _files_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return ()
    out = []
    for entry in entries:
        try:
            stat = entry.stat()
        except OSError:
            continue
        out.append((entry.name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


class Batch:
    """Answers to requests sent back to back on one connection (:meth:`Transport.send_batch`);
    read them once, in one thread."""

    def __init__(self, hosts: _HostConnections | None, conn: wire.Connection | None,
                 paths: list[str], max_length: int) -> None:
        self._hosts, self._conn = hosts, conn
        self._paths, self._max_length = paths, max_length

    def bodies(self) -> dict[str, bytes]:
        """The bodies of the 200 answers, by path.  Reading stops at the first answer that is
        neither a 200 nor a 404, or that breaks off: what follows is left unanswered."""
        conn, self._conn = self._conn, None
        found: dict[str, bytes] = {}
        if conn is None:
            return found
        try:
            for path in self._paths:
                resp = conn.response("GET")
                if resp.status not in (200, 404):
                    break  # auth wanted, or a server error: the usual path deals with it
                limit = self._max_length if resp.status == 200 else MAX_ERROR_BODY
                data = resp.read(limit)
                if len(data) > limit or not resp.complete:
                    break
                if resp.status == 200:
                    found[path] = data
                if not conn.reusable:
                    break  # the server closes after this answer
            else:
                assert self._hosts is not None
                self._hosts.release(conn)
                conn = None
        except (OSError, wire.ProtocolError):  # ssl.SSLError and timeouts included
            pass
        finally:
            if conn is not None:
                conn.close()
        return found


class _Retryable(Exception):
    def __init__(self, error: NetworkError | ServerError) -> None:
        super().__init__(str(error))
        self.error = error


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return exc.strerror or str(exc)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…",scope="repository:a/b:pull,push"`` → scheme, params."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params
