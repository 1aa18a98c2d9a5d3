"""Docker's client configuration, read the way the docker CLI reads it: where its config dir
is, and which trust server it would ask for an image.

The runner, the trust client and the policy all use these; none of them decides it alone.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from trustbuild._internal.reference import ImageReference
from trustbuild.errors import UsageError

DOCKER_HUB_TRUST_SERVER = "https://notary.docker.io"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG``, else ``~/.docker``."""
    env = os.environ if env is None else env
    configured = env.get("DOCKER_CONFIG")
    if configured:
        return Path(configured)
    try:
        return Path(env.get("HOME") or Path.home()) / ".docker"
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (an arbitrary UID)
        raise UsageError("cannot find docker's config directory: set DOCKER_CONFIG or "
                         "HOME") from None


def cli_config(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """The docker CLI's ``config.json`` as an object; empty when there is none or it cannot
    be read (docker itself then reports the problem)."""
    import json

    try:
        data = json.loads((config_dir(env) / "config.json").read_text())
    except (OSError, ValueError, RecursionError, UsageError):
        return {}
    return data if isinstance(data, dict) else {}


def trust_dir(docker_config: Path) -> Path:
    """Where docker and the notary CLI keep trust data: ``<config dir>/trust``."""
    return docker_config / "trust"


def tls_dir(docker_config: Path, hostport: str) -> Path:
    """Where docker looks for a server's CA (``*.crt``) and client certificate (``*.cert`` and
    ``*.key``): ``<config dir>/tls/<host:port>``."""
    return docker_config / "tls" / hostport


def default_trust_server(ref: ImageReference, env: Mapping[str, str] | None = None) -> str:
    """The server docker would ask: ``DOCKER_CONTENT_TRUST_SERVER``, notary.docker.io for
    Docker Hub, else ``https://<registry>``."""
    env = os.environ if env is None else env
    override = env.get("DOCKER_CONTENT_TRUST_SERVER", "")
    if override:
        # the user's setting, wrong for every image: one usage error, before anything
        return https_server_url(override, "DOCKER_CONTENT_TRUST_SERVER", UsageError)
    if ref.domain == "docker.io":
        return DOCKER_HUB_TRUST_SERVER
    return f"https://{ref.domain}"


def https_server_url(value: str, what: str, error: type[UsageError]) -> str:
    """A trust server's URL as given by the user: https, a host, and no credentials (which
    would be printed wherever the server is named; logins come from ``docker login``).  A
    value with credentials is never repeated in the message."""
    if "@" in value:
        raise error(f"{what} must not hold credentials (user:password@): trustbuild takes "
                    "the trust server's login from docker's credentials (docker login); "
                    "the value is not shown here")
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        host = None
    if parts.scheme != "https" or not host:
        raise error(f"{what} must be an https:// URL (as docker requires), not {value!r}")
    return value.rstrip("/")


# config.json `proxies` keys, and the build args docker makes of each (docker/cli
# configfile.ParseProxyConfig): both spellings, as docker passes both.
_PROXY_BUILD_ARGS = {"httpProxy": "HTTP_PROXY", "httpsProxy": "HTTPS_PROXY",
                     "noProxy": "NO_PROXY", "ftpProxy": "FTP_PROXY", "allProxy": "ALL_PROXY"}


def with_proxy_build_args(build_args: Mapping[str, str],
                          env: Mapping[str, str] | None = None) -> dict[str, str]:
    """*build_args* with the ones the docker CLI adds to every build from config.json's
    ``proxies`` (for the daemon host, else ``default``), where the user did not give them:
    the classic builder uses them in ``FROM`` without an ``ARG`` line, so they decide what is
    pulled."""
    out = dict(build_args)
    proxies = cli_config(env).get("proxies")
    if not isinstance(proxies, dict):
        return out
    host = (os.environ if env is None else env).get("DOCKER_HOST", "")
    chosen = proxies.get(host) if host in proxies else proxies.get("default")
    if not isinstance(chosen, dict):
        return out
    for key, name in _PROXY_BUILD_ARGS.items():
        value = chosen.get(key)
        if isinstance(value, str) and value:
            for spelling in (name, name.lower()):
                out.setdefault(spelling, value)
    return out
