"""Reading an image's config from the docker engine's API on its local socket.

``build`` reads each base image's ONBUILD triggers before docker runs.  ``docker image
inspect`` answers that in about 30 ms, most of it the CLI starting; the same request on the
engine's unix socket takes about one.  Only the plain local case is served here: ``DOCKER_HOST``
unset or ``unix://…``, and no docker context selected (a context can point anywhere, with its
own TLS).  Otherwise, or when the engine does not have the image, the caller asks the CLI.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trustbuild._internal import wire

DEFAULT_SOCKET = "/var/run/docker.sock"
TIMEOUT = 30.0
MAX_INSPECT_SIZE = 16 * 1024 * 1024


def local_socket(env: Mapping[str, str], docker_config: Path) -> str | None:
    """The engine's unix socket when docker would use one without a context, else None."""
    host = env.get("DOCKER_HOST", "")
    if host:
        return host.removeprefix("unix://") if host.startswith("unix:///") else None
    if env.get("DOCKER_CONTEXT", "default") != "default":
        return None
    try:
        config = json.loads((docker_config / "config.json").read_bytes())
    except FileNotFoundError:
        config = {}
    except (OSError, ValueError):
        return None  # let the CLI report on a config it cannot read
    if not isinstance(config, dict) or config.get("currentContext", "default") not in (
            "", "default"):
        return None
    return DEFAULT_SOCKET


def image_config(socket_path: str, image: str) -> dict[str, Any] | None:
    """``Config`` of *image* as the engine has it; None when the engine cannot be asked or
    does not have the image (the CLI then pulls it or explains)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    conn = wire.Connection(sock, "docker")
    try:
        sock.connect(socket_path)
        resp = conn.request("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json", {})
        body = resp.read(MAX_INSPECT_SIZE)
        if resp.status != 200 or len(body) > MAX_INSPECT_SIZE:
            return None
        doc = json.loads(body)
    except (OSError, wire.ProtocolError, ValueError):
        return None
    finally:
        conn.close()
    config = doc.get("Config") if isinstance(doc, dict) else None
    return config if isinstance(config, dict) else {}
