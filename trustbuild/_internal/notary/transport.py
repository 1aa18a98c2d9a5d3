"""HTTPS to trust servers and registries, on urllib3: one connection pool per server,
deadlines, bounded reads, token auth, and proxies as docker uses them.

* TLS is always verified: the CA files in ``$DOCKER_CONFIG/tls/<host:port>/*.crt`` (or the
  policy's ``ca`` for the server) are the only roots trusted for that server, else the system
  store; a client certificate from ``*.cert`` + ``*.key`` there (docker's layout) or from the
  policy.  Unlike docker, loopback servers are not exempt.  Plain ``http://`` is refused for
  trust data (:meth:`Transport.get`); :meth:`Transport.fetch` takes it for loopback hosts
  only (``127.0.0.0/8``, ``::1``, ``localhost``), where docker itself talks to a registry over
  http without being configured to (``registry``).
* Proxies: ``HTTPS_PROXY``/``NO_PROXY`` exactly as Go reads them (see ``proxy``), CONNECT
  tunnels, credentials from the proxy URL.  A proxy that refuses or fails is a
  :class:`ProxyError`, never a reason to connect directly.
* Deadlines: each request (all its attempts and its whole body) must end within
  ``request_timeout`` and within the caller's deadline for the run; a watchdog shuts the
  socket down when it passes, so an endless ``100 Continue``, a body dripping a byte at a time
  or a trailer that never ends all stop there with a :class:`RequestTimeout`.
* Caps: every body has a size limit, checked against ``Content-Length`` before reading and
  while reading; error bodies are read up to 1 KiB.  ``Content-Length`` must be ASCII digits
  and chunk sizes hex digits, nothing else Python's ``int`` would take; a connection is reused
  only after a response whose framing was read to its end (never after 1xx, 204 or 304).
* Retries: GETs only (idempotent), after a connection failure, a broken response or a
  502/503/504, with a short backoff and never past the deadline.
* ``WWW-Authenticate`` challenges: ``Bearer`` is answered with a token for the request's
  scope from the challenge's realm and service (a GET with the registry's credentials as
  Basic auth, or docker's refresh-token grant, which is a POST); ``Basic`` with the
  credentials themselves.  Credentials are looked up only when a server asks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.response import HTTPResponse

from trustbuild._internal import proxy
from trustbuild._internal.dockerconfig import tls_dir
from trustbuild._internal.notary.credentials import Credentials
from trustbuild._version import __version__
from trustbuild.errors import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    ProxyError,
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
READ_SIZE = 64 * 1024
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_MAX_CHUNK_LINE = 4096
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


@dataclass(frozen=True, slots=True)
class TransportConfig:
    docker_config: Path
    connect_timeout: float = 10.0  # a TCP connection and TLS handshake
    read_timeout: float = 30.0  # one read from the socket
    request_timeout: float = 60.0  # one request: every attempt, the whole body
    retries: int = 2
    backoff: float = 0.25
    connections_per_server: int = 32


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """TLS files the policy names for a server (instead of ``$DOCKER_CONFIG/tls/``)."""

    ca: Path | None
    client_cert: Path | None
    client_key: Path | None
    source: str


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float

    def __repr__(self) -> str:
        return "_Token(…)"


@dataclass(frozen=True, slots=True)
class Response:
    """One answer: its status, its body (bounded) and the headers callers use."""

    status: int
    body: bytes
    challenge: str = ""  # WWW-Authenticate
    content_type: str = ""
    location: str = ""  # of a redirect


class _Server:
    """One server's connection pool and how it is reached."""

    def __init__(self, scheme: str, hostport: str, pool: HTTPConnectionPool,
                 route: proxy.Route, ca: str) -> None:
        self.scheme, self.hostport, self.pool = scheme, hostport, pool
        self.route, self.ca = route, ca

    def __repr__(self) -> str:
        return f"_Server({self.scheme}://{self.hostport}, {self.route.why!r})"


class Transport:
    """Thread-safe: share one per process (its pools are per server)."""

    def __init__(self, config: TransportConfig, *, env: Mapping[str, str] | None = None,
                 credentials: Callable[[str], Credentials | None] | None = None) -> None:
        self.config = config
        self.requests = 0  # requests sent, for the benchmarks
        # Only what decides the proxy is kept from the environment.
        self._proxy_env = {k: v for k, v in (env or {}).items() if k in _PROXY_VARIABLES}
        self._credentials = credentials or (lambda registry: None)
        self._tls: dict[str, ServerTLS] = {}
        self._servers: dict[str, _Server] = {}
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._lock = threading.Lock()
        self._retry = urllib3.Retry(
            total=config.retries, connect=config.retries, read=config.retries,
            status=config.retries, other=0, redirect=0, allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES, backoff_factor=config.backoff, backoff_max=2.0,
            raise_on_status=False, raise_on_redirect=False, respect_retry_after_header=False)

    def __repr__(self) -> str:
        with self._lock:
            servers = {h: s.route.proxy.url if s.route.proxy else "direct"
                       for h, s in self._servers.items()}
        return f"Transport(servers={servers!r}, requests={self.requests})"

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pool (a transport may still be used after: pools are made again)."""
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.pool.close()

    # -- servers ------------------------------------------------------------------------------

    def use_tls(self, hostport: str, tls: ServerTLS) -> None:
        """Use the policy's TLS files for *hostport* (before its first request)."""
        with self._lock:
            if self._tls.get(hostport) != tls and f"https://{hostport}" in self._servers:
                self._servers.pop(f"https://{hostport}").pool.close()
            self._tls[hostport] = tls

    def describe(self, hostport: str, scheme: str = "https") -> str:
        """How *hostport* is reached, for the log: CA and route (never credentials)."""
        server = self._server(scheme, hostport)
        return f"CA {server.ca}; {server.route.why}"

    def _server(self, scheme: str, hostport: str) -> _Server:
        with self._lock:
            known = self._servers.get(f"{scheme}://{hostport}")
            if known is None:
                known = self._servers[f"{scheme}://{hostport}"] = \
                    self._new_server(scheme, hostport)
            return known

    def _new_server(self, scheme: str, hostport: str) -> _Server:
        host, port = _host_and_port(hostport, scheme)
        options: dict[str, Any] = {"num_pools": 1, "maxsize": self.config.connections_per_server,
                                   "block": True}
        if scheme == "http":
            # loopback only (fetch checks it), which no proxy ever serves
            pool = _PlainPool(host, port, **{k: v for k, v in options.items()
                                             if k != "num_pools"})
            return _Server(scheme, hostport, pool, proxy.Route(None, "loopback: direct, plain "
                                                                     "http"), "none (plain http)")
        tls = self._tls.get(hostport)
        context, ca = _ssl_context(tls, tls_dir(self.config.docker_config, hostport))
        route = proxy.route(host, port, self._proxy_env)
        options["ssl_context"] = context
        manager: urllib3.PoolManager
        if route.proxy is None:
            manager = urllib3.PoolManager(**options)
        else:
            headers = None
            if route.proxy.username is not None:
                headers = urllib3.make_headers(
                    proxy_basic_auth=f"{route.proxy.username}:{route.proxy.password or ''}")
            manager = urllib3.ProxyManager(route.proxy.url, proxy_headers=headers, **options)
        manager.pool_classes_by_scheme = {"https": _Pool}
        tls_pool = manager.connection_from_host(host, port, scheme="https")
        assert isinstance(tls_pool, _Pool)
        return _Server(scheme, hostport, tls_pool, route, ca)

    # -- requests -----------------------------------------------------------------------------

    def get(self, url: str, *, max_length: int, scope: str, registry: str,
            deadline: float | None = None) -> bytes:
        """GET *url* (https only) and return its body, at most *max_length* bytes.  *deadline*
        (``time.monotonic()``) bounds this request as well as ``request_timeout`` does."""
        if urllib.parse.urlsplit(url).scheme != "https":
            raise NetworkError(f"refusing to fetch trust data over "
                               f"{urllib.parse.urlsplit(url).scheme or 'no'} scheme: {url}")
        return _check_status(self.fetch(url, max_length=max_length, scope=scope,
                                        registry=registry, deadline=deadline), url)

    def fetch(self, url: str, *, max_length: int, scope: str, registry: str,
              deadline: float | None = None, accept: str | None = None,
              authenticate: bool = True) -> Response:
        """GET *url* and return the answer whatever its status (a body over *max_length* is
        :class:`ResponseTooLarge`).  https, or http to a loopback host.  A ``401`` challenge is
        answered (a token for *scope*, with *registry*'s credentials) unless not
        *authenticate* (a redirect to another host gets no credentials)."""
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            raise NetworkError(f"not a URL trustbuild can fetch: {url[:200]!r}") from None
        if not parts.hostname or parts.scheme not in ("https", "http") or (
                parts.scheme == "http" and not proxy.is_loopback(parts.hostname)):
            raise NetworkError(f"refusing to fetch over {parts.scheme or 'no'} scheme: {url} "
                               "(https, or http to a loopback address only)")
        scheme, hostport = parts.scheme, parts.netloc
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = self._get_headers(scheme, hostport, scope) if authenticate \
            else {"User-Agent": USER_AGENT}
        if accept:
            headers["Accept"] = accept
        resp = self._request(scheme, hostport, "GET", path, headers, None, max_length,
                             deadline)
        if resp.status == 401 and resp.challenge and authenticate:
            headers["Authorization"] = self._authorize(scheme, hostport, resp.challenge, scope,
                                                       registry, deadline)
            resp = self._request(scheme, hostport, "GET", path, headers, None, max_length,
                                 deadline)
            if resp.status in (401, 403):
                raise AuthenticationError(f"authentication refused by {hostport} for {scope}")
        return resp

    def _get_headers(self, scheme: str, hostport: str, scope: str) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        token = self._cached_token(f"{scheme}://{hostport}", scope)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _request(self, scheme: str, hostport: str, method: str, path: str,
                 headers: dict[str, str], body: bytes | None, limit: int,
                 deadline: float | None) -> Response:
        server = self._server(scheme, hostport)
        started = time.monotonic()
        expires = started + self.config.request_timeout
        if deadline is not None:
            expires = min(expires, deadline)
        with self._lock:
            self.requests += 1
        watch = _Watch(expires)
        resp: HTTPResponse | None = None
        reusable = False
        try:
            with watch:
                remaining = watch.remaining()
                timeout = urllib3.Timeout(connect=min(self.config.connect_timeout, remaining),
                                          read=min(self.config.read_timeout, remaining))
                answer = server.pool.urlopen(
                    method, path, body=body, headers=headers,
                    retries=self._retry if method == "GET" else urllib3.Retry(0, redirect=0),
                    redirect=False, preload_content=False, release_conn=False,
                    decode_content=False, timeout=timeout, pool_timeout=math.ceil(remaining))
                assert isinstance(answer, _StrictResponse)
                resp = answer
                data, reusable = _read_body(answer, limit, hostport + path)
                if watch.expired:  # an end the watchdog forced (say, in an endless trailer)
                    reusable = False
                    raise TimeoutError("the deadline has passed")
                return Response(answer.status, data, answer.headers.get("WWW-Authenticate", ""),
                                answer.headers.get("Content-Type", ""),
                                answer.headers.get("Location", ""))
        except (HTTPError, OSError, ValueError, OverflowError) as exc:
            if watch.expired:
                raise RequestTimeout(f"{hostport} did not finish answering {method} {path} "
                                     f"within {time.monotonic() - started:.1f} s (the "
                                     "request's deadline)", server=hostport) from None
            raise _translate(exc, server, path) from None
        finally:
            if resp is not None:
                if not reusable:
                    resp.close()
                resp.release_conn()

    # -- token auth ---------------------------------------------------------------------------

    def _cached_token(self, server: str, scope: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            for (known, _, token_scope), token in self._tokens.items():
                if known == server and token_scope == scope and token.expires_at > now:
                    return token.value
        return None

    def _authorize(self, scheme: str, hostport: str, challenge: str, scope: str,
                   registry: str, deadline: float | None) -> str:
        auth_scheme, params = parse_challenge(challenge)
        if auth_scheme == "basic":
            creds = self._credentials(registry)
            if creds is None or not creds.username:
                raise AuthenticationError(f"{hostport} wants credentials: run docker login "
                                          f"{registry}")
            return "Basic " + _basic(creds.username, creds.password)
        if auth_scheme != "bearer" or "realm" not in params:
            raise AuthenticationError(f"{hostport} sent an authentication challenge trustbuild "
                                      f"cannot answer: {challenge[:100]!r}")
        realm, service = params["realm"], params.get("service", "")
        realm_parts = _realm(realm)
        token = self._fetch_token(realm_parts, service, scope, self._credentials(registry),
                                  deadline)
        with self._lock:
            self._tokens[(f"{scheme}://{hostport}", service, scope)] = token
        return f"Bearer {token.value}"

    def _fetch_token(self, realm: urllib.parse.SplitResult, service: str, scope: str,
                     creds: Credentials | None, deadline: float | None) -> _Token:
        headers = {"User-Agent": USER_AGENT}
        if creds and creds.identity_token:
            # docker's refresh-token grant is a POST (form fields, as docker sends them)
            form = urllib.parse.urlencode({
                "grant_type": "refresh_token", "refresh_token": creds.identity_token,
                "client_id": "trustbuild", "service": service, "scope": scope})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            method, path, body = "POST", realm.path or "/", form.encode()
        else:
            query = {"service": service, "scope": scope}
            if creds and creds.username:
                query["account"] = creds.username
                headers["Authorization"] = "Basic " + _basic(creds.username, creds.password)
            method, body = "GET", None
            path = (realm.path or "/") + "?" + urllib.parse.urlencode(query)
        realm_url = urllib.parse.urlunsplit(realm._replace(query=""))
        try:
            resp = self._request(realm.scheme, realm.netloc, method, path, headers, body,
                                 MAX_TOKEN_RESPONSE, deadline)
        except ResponseTooLarge:
            raise AuthenticationError(f"the token service {realm_url} sent too much") from None
        return _token_from(resp, realm_url)


class _Watch:
    """The deadline of one request.  urllib3's timeouts bound each socket operation; this
    bounds the whole: when it passes, the sockets of the request are shut down, which ends
    any read in progress."""

    _current = threading.local()

    def __init__(self, expires: float) -> None:
        self.expires = expires
        self.expired = False
        self._connections: list[_Watched] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        left = self.expires - time.monotonic()
        if left <= 0:
            self._expire()
            raise TimeoutError("the deadline has passed")
        return left

    def __enter__(self) -> _Watch:
        self._timer = threading.Timer(max(self.expires - time.monotonic(), 0), self._expire)
        self._timer.daemon = True
        self._timer.start()
        _Watch._current.watch = self
        return self

    def __exit__(self, *exc: object) -> None:
        _Watch._current.watch = None
        if self._timer is not None:
            self._timer.cancel()

    @classmethod
    def current(cls) -> _Watch | None:
        watch: _Watch | None = getattr(cls._current, "watch", None)
        return watch

    def attach(self, connection: _Watched) -> None:
        with self._lock:
            if self.expired:
                raise TimeoutError("the deadline has passed")
            self._connections.append(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            connection.interrupt()


class _Watched(HTTPConnection):
    """urllib3's connection, with a handle to shut its socket down from the watchdog (a
    duplicate of the TCP socket, valid through TLS wrapping and proxy tunnels), and responses
    that read HTTP/1.1's framing strictly."""

    _handle: socket.socket | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._handle = sock.dup()
        try:
            self._attach()
        except TimeoutError:
            sock.close()
            raise
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._attach()  # a kept-alive connection serving a new request
        super().request(*args, **kwargs)

    def _attach(self) -> None:
        watch = _Watch.current()
        if watch is not None:
            watch.attach(self)

    def interrupt(self) -> None:
        handle = self._handle
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        try:
            super().close()
        finally:
            handle, self._handle = self._handle, None
            if handle is not None:
                handle.close()

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        response = super().getresponse()
        # urllib3 builds its response here; only the chunk-size parser differs (below).
        response.__class__ = _StrictResponse
        return response


class _StrictResponse(HTTPResponse):
    """A chunk size is 1-16 hex digits (then optional whitespace and extensions), as Go's
    server writes and reads it: Python's ``int(line, 16)``, which urllib3 uses, also takes
    ``1_0``, ``+a``, ``0x10`` or surrounding spaces, where another parser of the same bytes
    would see a different framing."""

    def _update_chunk_length(self) -> None:
        if self.chunk_left is not None:
            return
        assert self._fp is not None
        line: bytes = self._fp.fp.readline(_MAX_CHUNK_LINE + 1)
        if not line:
            self.close()
            raise ProtocolError("Response ended prematurely")
        size = line.split(b";", 1)[0].rstrip(b"\r\n").rstrip(b" \t")
        if len(line) > _MAX_CHUNK_LINE or not line.endswith(b"\n") \
                or not _CHUNK_SIZE.fullmatch(size):
            self.close()
            raise ProtocolError(f"invalid chunk size line {line[:40]!r}")
        self.chunk_left = int(size, 16)


class _Connection(_Watched, HTTPSConnection):
    """HTTPS, watched."""


class _Pool(HTTPSConnectionPool):
    ConnectionCls = _Connection


class _PlainPool(HTTPConnectionPool):
    ConnectionCls = _Watched


def _read_body(resp: HTTPResponse, limit: int, what: str) -> tuple[bytes, bool]:
    """The body, at most *limit* bytes for a 200 (:class:`ResponseTooLarge` beyond) and at
    most ``MAX_ERROR_BODY`` of anything else; and whether the connection may serve again."""
    status = resp.status
    lengths = resp.headers.getlist("Content-Length")
    encodings = resp.headers.getlist("Transfer-Encoding")
    if encodings and ([e.strip().lower() for e in encodings] != ["chunked"] or lengths):
        raise ProtocolError(f"unusable Transfer-Encoding {', '.join(encodings)[:60]!r}")
    values = {v.strip() for value in lengths for v in value.split(",")}
    if values and (len(values) > 1 or not all(_CONTENT_LENGTH.fullmatch(v) for v in values)):
        raise ProtocolError(f"invalid Content-Length {', '.join(lengths)[:60]!r}")
    if status < 200 or status in (204, 304):
        return b"", False  # no body by the rules; whatever the server sent, do not reuse
    cap = limit if status == 200 else MAX_ERROR_BODY
    declared = int(values.pop()) if values else None
    if status == 200 and declared is not None and declared > cap:
        raise ResponseTooLarge(f"{what}: {declared} bytes is more than the {cap} allowed")
    data = bytearray()
    for chunk in resp.stream(READ_SIZE):
        data += chunk
        if len(data) > cap:
            if status == 200:
                raise ResponseTooLarge(f"{what}: more than the {cap} bytes allowed")
            return bytes(data[:cap]), False
    return bytes(data), declared is not None or bool(encodings)


def _translate(exc: BaseException, server: _Server, path: str) -> TrustError:
    """A urllib3 or socket failure as the error trustbuild reports, naming the server (and
    the proxy, without its credentials)."""
    hostport = server.hostport
    reason: BaseException = exc
    while isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    via = server.route.proxy
    if isinstance(reason, Urllib3ProxyError) and via is not None:
        cause = reason.original_error if isinstance(reason.original_error, BaseException) \
            else reason
        return ProxyError(_scrub(f"the proxy {via.url} failed the connection to {hostport}: "
                                 f"{_reason(cause)}", via), server=hostport)
    if isinstance(reason, SSLError | ssl.SSLError):
        return TLSError(f"TLS failure talking to {hostport}: {_reason(reason)} (CA: "
                        f"{server.ca})", server=hostport)
    if isinstance(reason, ConnectTimeoutError | ReadTimeoutError | TimeoutError
                  | EmptyPoolError) and not isinstance(reason, NewConnectionError):
        return RequestTimeout(f"{hostport} did not answer in time ({_reason(reason)})",
                              server=hostport)
    if isinstance(reason, ProtocolError):
        text = _reason(reason)
        url = f"{server.scheme}://{hostport}{path}"
        if "IncompleteRead" in text or "prematurely" in text or "Connection broken" in text:
            return NetworkError(f"{url}: incomplete response: {text}", server=hostport)
        return NetworkError(f"{url}: malformed response: {text}", server=hostport)
    if isinstance(reason, ValueError | OverflowError):
        return NetworkError(f"refusing to send a request to {hostport}: {reason}",
                            server=hostport)
    return NetworkError(_scrub(f"cannot reach {hostport}: {_reason(reason)}", via),
                        server=hostport)


def _scrub(message: str, via: proxy.Proxy | None) -> str:
    if via is not None and via.password:
        message = message.replace(via.password, "***")
    return message


def _reason(exc: BaseException) -> str:
    """The innermost explanation of a failure, without urllib3's object reprs."""
    while True:
        inner = getattr(exc, "reason", None) or getattr(exc, "original_error", None)
        if not isinstance(inner, BaseException) or inner is exc:
            break
        exc = inner
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, NewConnectionError):
        return str(exc).rpartition(": ")[2] or str(exc)
    if isinstance(exc, ProtocolError) and len(exc.args) > 1 \
            and isinstance(exc.args[1], BaseException):
        return f"{exc.args[0]} {exc.args[1]!r}"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _check_status(resp: Response, url: str) -> bytes:
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


def _host_and_port(hostport: str, scheme: str = "https") -> tuple[str, int]:
    parts = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise NetworkError(f"{hostport}: not a usable host and port") from None
    if not parts.hostname:
        raise NetworkError(f"{hostport}: not a usable host and port")
    return parts.hostname, port


def _realm(realm: str) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(realm)
        port = parts.port
    except ValueError:
        raise AuthenticationError(f"the token realm {realm[:200]!r} is not a usable https "
                                  "URL") from None
    usable = parts.scheme == "https" or (parts.scheme == "http" and bool(parts.hostname)
                                         and proxy.is_loopback(parts.hostname or ""))
    if not usable or not parts.hostname or port == -1:
        raise AuthenticationError(f"the token realm {realm[:200]!r} is not a usable https URL")
    return parts


def _ssl_context(tls: ServerTLS | None, directory: Path) -> tuple[ssl.SSLContext, str]:
    """The context for one server, and a description of its CA for the log."""
    if tls is not None and (tls.ca or tls.client_cert):
        cas = [tls.ca] if tls.ca else []
        pairs = [(tls.client_cert, tls.client_key)] if tls.client_cert and tls.client_key \
            else []
        where = f"the policy ({tls.source})"
    else:
        cas = sorted(directory.glob("*.crt")) if directory.is_dir() else []
        certs = sorted(directory.glob("*.cert")) if directory.is_dir() else []
        for cert in certs:
            if not cert.with_suffix(".key").exists():
                raise TLSError(f"client certificate {cert} has no key {cert.stem}.key")
        pairs = [(c, c.with_suffix(".key")) for c in certs]
        where = str(directory)
    # PROTOCOL_TLS_CLIENT verifies the chain and the host name, like the default context.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if cas else ssl.create_default_context()
    try:
        for ca in cas:
            context.load_verify_locations(cafile=str(ca))
        for cert, key in pairs:
            context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the TLS files in {where}: {exc}") from None
    described = ", ".join(str(ca) for ca in cas) or "the system store"
    if pairs:
        described += f"; client certificate {pairs[0][0]}"
    return context, described


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def _token_from(resp: Response, realm: str) -> _Token:
    status, body = resp.status, resp.body
    if status in (401, 403):
        raise AuthenticationError(f"the token service {realm} refused the credentials")
    if status != 200:
        raise AuthenticationError(f"the token service {realm} answered {status}")
    try:
        data = json.loads(body)
        value = data.get("token") or data.get("access_token")
        expires_in = float(data.get("expires_in") or 60)
    except (ValueError, AttributeError, TypeError, OverflowError, RecursionError):
        raise AuthenticationError(f"the token service {realm} sent no token") from None
    if not isinstance(value, str) or not value:
        raise AuthenticationError(f"the token service {realm} sent no token")
    if not value.isprintable() or not value.isascii():
        raise AuthenticationError(f"the token service {realm} sent an unusable token")
    lifetime = min(max(expires_in - 5, 1), 3600) if expires_in == expires_in else 1
    return _Token(value, time.monotonic() + lifetime)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…",scope="repository:a/b:pull,push"`` → scheme, params."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params
