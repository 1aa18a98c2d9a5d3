"""Registry credentials from docker's ``config.json``, as docker resolves them.

``credHelpers`` for the registry, else ``credsStore``, else ``auths`` (``auth`` in base64,
``username``/``password``, or ``identitytoken``).  Docker sends the *registry's* credentials
to its trust server's token service; trustbuild does the same.

Not docker-py: its ``auth`` module would serve, but importing it loads requests and the whole
docker package (over 100 ms) for about 80 lines of logic.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from trustbuild.errors import AuthenticationError

HUB_KEY = "https://index.docker.io/v1/"
HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
HELPER_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(username={self.username!r})"


def _host(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in HUB_ALIASES else host


def registry_credentials(registry: str, docker_config: Path) -> Credentials | None:
    config_file = docker_config / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuthenticationError(f"cannot read {config_file}: {exc}") from None
    if not isinstance(config, dict):
        raise AuthenticationError(f"{config_file} is not a JSON object")
    host = _host(registry)
    key = HUB_KEY if host == "docker.io" else host
    helpers = config.get("credHelpers") or {}
    helper = next((str(v) for k, v in helpers.items() if _host(k) == host), None) \
        or str(config.get("credsStore") or "")
    if helper:
        return _from_helper(str(helper), key)
    for entry_key, entry in (config.get("auths") or {}).items():
        if _host(entry_key) == host and isinstance(entry, dict):
            return _from_entry(entry, config_file)
    return None


def _from_entry(entry: dict[str, object], config_file: Path) -> Credentials | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(identity_token=token)
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError(f"{config_file}: an auth entry is not base64 "
                                      "user:password") from None
        return Credentials(user, password)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(name, secret)
    return None


def _from_helper(helper: str, key: str) -> Credentials | None:
    import shutil
    import subprocess

    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise AuthenticationError(f"credential helper docker-credential-{helper} not found")
    try:
        result = subprocess.run([program, "get"], input=key.encode(), capture_output=True,
                                timeout=HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthenticationError(f"docker-credential-{helper} failed: {exc}") from None
    out = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0:
        if "credentials not found" in out.lower():
            return None
        raise AuthenticationError(f"docker-credential-{helper} get failed: {out[:200]}")
    try:
        data = json.loads(out)
        user, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
    except (ValueError, AttributeError):
        raise AuthenticationError(f"docker-credential-{helper} gave no JSON") from None
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret) if user or secret else None
