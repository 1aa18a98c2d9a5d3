"""Registry credentials from docker's ``config.json``, resolved by docker-py's ``docker.auth``.

Docker sends the *registry's* credentials to its trust server's token service; trustbuild
does the same.  ``docker.auth`` resolves ``credHelpers``, ``credsStore`` (running
``docker-credential-<name> get``), ``auths`` entries and identity tokens as docker does, and
is imported only when a server asks for credentials.

Two things stay here, because docker-py differs from the docker CLI on them (docs/design.md):

* which file is read: ``<config dir>/config.json`` only, and a file that is not JSON is an
  error (docker-py falls back to ``~/.docker/config.json``, ``~/.dockercfg`` and silently to an
  empty configuration);
* an ``auths`` entry with plain ``username``/``password`` fields and no ``auth``: the docker
  CLI uses them, docker-py ignores them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustbuild.errors import AuthenticationError

AUTH_KEYS = ("auths", "credsStore", "credHelpers")


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(username={self.username!r})"


def registry_credentials(registry: str, docker_config: Path) -> Credentials | None:
    """The credentials docker would use for *registry* (``host[:port]``, or ``docker.io``)."""
    config_file = docker_config / "config.json"
    config = _read(config_file)
    relevant = {key: config[key] for key in AUTH_KEYS if config.get(key)}
    if not relevant:
        return None
    from docker import auth, errors

    try:
        with warnings.catch_warnings():  # a missing helper is reported below, not warned
            warnings.simplefilter("ignore")
            resolved = auth.load_config(config_dict=json.loads(json.dumps(relevant))) \
                .resolve_authconfig(registry)
    except (errors.DockerException, ValueError, TypeError, AttributeError) as exc:
        raise AuthenticationError(f"cannot get the credentials for {registry} from "
                                  f"{config_file}: {exc}") from None
    found = _credentials(resolved)
    if found is None and isinstance(resolved, dict) and not resolved:
        found = _plain_fields(relevant.get("auths"), registry)
    return found


def _read(config_file: Path) -> dict[str, Any]:
    try:
        config = json.loads(config_file.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        raise AuthenticationError(f"cannot read {config_file}: {exc}") from None
    if not isinstance(config, dict):
        raise AuthenticationError(f"{config_file} is not a JSON object")
    return config


def _credentials(resolved: Any) -> Credentials | None:
    """docker-py's answer: lower-case keys from ``auths``, capitalised ones from a helper."""
    if not isinstance(resolved, dict):
        return None
    token = resolved.get("IdentityToken")
    if isinstance(token, str) and token:
        return Credentials(identity_token=token)
    user = resolved.get("username", resolved.get("Username")) or ""
    password = resolved.get("password", resolved.get("Password")) or ""
    if not isinstance(user, str) or not isinstance(password, str) or not (user or password):
        return None
    return Credentials(user, password)


def _plain_fields(auths: Any, registry: str) -> Credentials | None:
    """The docker CLI reads ``username``/``password`` of an ``auths`` entry that has no
    ``auth``; docker-py does not."""
    from docker import auth

    if not isinstance(auths, dict):
        return None
    wanted = auth.resolve_index_name(registry)
    for key, entry in auths.items():
        if auth.resolve_index_name(key) == wanted and isinstance(entry, dict):
            name, secret = entry.get("username"), entry.get("password")
            if isinstance(name, str) and isinstance(secret, str) and name:
                return Credentials(name, secret)
    return None
