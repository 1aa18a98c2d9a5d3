"""Repositories on the simulator, signed the usual way, for tests to start from."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer

REGISTRY = "reg.example:5000"
DIGEST = hashlib.sha256(b"image manifest").hexdigest()
OTHER = hashlib.sha256(b"another manifest").hexdigest()


def repo(sim: SimServer, name: str = "app", **kw: Any) -> SimRepo:
    """``reg.example:5000/<name>`` with tag ``1`` signed in ``targets``, published."""
    r = sim.add(SimRepo(f"{REGISTRY}/{name}", **kw))
    r.sign_tag("1", DIGEST)
    r.publish()
    return r


def ref(r: SimRepo, tag: str = "1") -> str:
    return f"{r.gun}:{tag}"
