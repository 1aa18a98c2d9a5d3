"""Which proxy a request to a trust server goes through, decided as docker and the notary CLI
decide it (Go's ``net/http.ProxyFromEnvironment``, i.e. ``golang.org/x/net/http/httpproxy``).

Trust servers are https only, so only these variables count, first non-empty wins:

* ``HTTPS_PROXY`` then ``https_proxy``: the proxy, ``http://`` or ``https://`` (TLS to the
  proxy), with credentials in the URL if the proxy wants them; a bare ``host:port`` means
  ``http://host:port``.  Go no longer falls back to ``HTTP_PROXY`` for https requests, and
  neither does trustbuild.
* ``NO_PROXY`` then ``no_proxy``: comma-separated entries, each lower-cased and trimmed:
  ``*`` (no proxy at all), an IP address or CIDR block (``10.0.0.0/8``), a domain
  (``example.com`` matches it and its subdomains; ``.example.com`` and ``*.example.com``
  only subdomains), each optionally with a port (``example.com:4443``, ``[::1]:4443``) that
  must then equal the request's (443 when the URL has none).
* ``localhost`` and loopback IP literals (127.0.0.0/8, ::1) are never proxied, whatever the
  variables say.  A *name* that resolves to loopback (an ``/etc/hosts`` entry) is proxied:
  Go decides on the URL, not on the address.

Stricter than Go, on purpose: Go silently ignores a proxy value it cannot parse and connects
directly; here that is a :class:`ProxyError`, as is a ``socks5://`` proxy (which Go supports
and urllib3 does not without PySocks).  ``ALL_PROXY`` is not read, as Go does not read it.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from trustbuild.errors import ProxyError

DEFAULT_HTTPS_PORT = "443"
PROXY_SCHEMES = ("http", "https")
ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ProxyAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Proxy:
    """A proxy to tunnel through.  ``url`` carries no credentials (safe to print)."""

    url: str
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password
        user = "" if self.username is None else f", username={self.username!r}"
        return f"Proxy({self.url!r}{user})"


@dataclass(frozen=True, slots=True)
class Route:
    """How requests to one server go: through ``proxy``, or directly; ``why`` in words."""

    proxy: Proxy | None
    why: str


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str]:
    for name in names:
        value = env.get(name, "")
        if value:
            return name, value
    return "", ""


def parse_proxy(value: str, variable: str) -> Proxy:
    """Go's ``parseProxy``: a URL with scheme http or https, or ``host[:port]``."""
    try:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in (*PROXY_SCHEMES, "socks5"):
            parts = urllib.parse.urlsplit(f"http://{value}")
    except ValueError:
        raise ProxyError(f"{variable} is not a proxy URL trustbuild can use: "
                         f"{_safe(value)}") from None
    if parts.scheme == "socks5":
        raise ProxyError(f"{variable} names a SOCKS proxy ({_safe(value)}); trustbuild "
                         "tunnels through http:// and https:// proxies only")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1 or parts.path not in ("", "/") or parts.query:
        raise ProxyError(f"{variable} is not a proxy URL trustbuild can use: {_safe(value)}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = port or (443 if parts.scheme == "https" else 80)
    username = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return Proxy(f"{parts.scheme}://{host}:{port}", username, password)


def _safe(value: str) -> str:
    """A proxy setting for messages: everything before its last ``@`` hidden.  Taken from
    the text, not from a parse: a password with an unescaped ``/``, ``?`` or ``#`` is not
    where a URL parser looks for one."""
    if "@" not in value:
        return value
    scheme, sep, _ = value.partition("://")
    shown = value.rpartition("@")[2]
    return f"{scheme}://(credentials hidden)@{shown}" if sep else f"(credentials hidden)@{shown}"


def route(host: str, port: int | None, env: Mapping[str, str]) -> Route:
    """The route of an https request to *host*:*port* under the proxy variables of *env*."""
    variable, value = _first(env, "HTTPS_PROXY", "https_proxy")
    if not value:
        return Route(None, "direct: no HTTPS_PROXY")
    proxy = parse_proxy(value, variable)
    host = host.strip("[]").lower()
    port_text = str(port) if port else DEFAULT_HTTPS_PORT
    if is_loopback(host):
        return Route(None, f"direct: {host} (loopback) is never proxied (as in Go)")
    address = _address(host)
    no_proxy_name, no_proxy = _first(env, "NO_PROXY", "no_proxy")
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if entry and _bypasses(entry, host, port_text, address):
            return Route(None, f"direct: {no_proxy_name} entry {entry!r}")
    return Route(proxy, f"through the proxy {proxy.url} ({variable})")


def is_loopback(host: str) -> bool:
    """A loopback address (``127.0.0.0/8``, ``::1``, an IPv4-mapped one as Go compares it)
    or ``localhost``: the hosts Go never proxies, and those docker's daemon treats as
    insecure registries by default (``InsecureRegistryCIDRs``: ``127.0.0.0/8``, ``::1/128``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    address = _address(host)
    return address is not None and address.is_loopback


def _address(host: str) -> ProxyAddress | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # Go's net.IP compares ::ffff:a.b.c.d as a.b.c.d
    return address


def _bypasses(entry: str, host: str, port: str, address: ProxyAddress | None) -> bool:
    """Whether the NO_PROXY *entry* matches (Go's ipMatchers and domainMatchers)."""
    if entry == "*":
        return True
    if "/" in entry:
        try:
            network: ProxyNetwork = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False  # Go ignores what it cannot parse
        return address is not None and address.version == network.version \
            and address in network
    entry_host, entry_port = _split_host_port(entry)
    if not entry_host:
        return False
    entry_address = _address(entry_host)
    if entry_address is not None:
        return address == entry_address and entry_port in ("", port)
    if entry_host.startswith("*."):
        entry_host = entry_host[1:]
    match_host = not entry_host.startswith(".")
    suffix = entry_host if not match_host else f".{entry_host}"
    if host.endswith(suffix) or (match_host and host == suffix[1:]):
        return entry_port in ("", port)
    return False


def _split_host_port(entry: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort`` where it succeeds, else the whole entry as the host."""
    if entry.startswith("["):
        close = entry.find("]")
        if close > 0 and entry[close + 1:close + 2] == ":" and entry[close + 2:].isdigit():
            return entry[1:close], entry[close + 2:]
        return entry, ""  # Go: no port, so not split, and no host matches "[…]"
    host, sep, port = entry.rpartition(":")
    if sep and ":" not in host and (not port or (port.isascii() and port.isdigit())):
        return host, port
    return entry, ""
