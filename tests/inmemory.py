"""The verifier behind its two interfaces, with nothing but memory: a Fetcher serving a
:class:`SimRepo`'s files (or any bytes a test puts there), and a Cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trustbuild._internal.notary.repository import TrustedRepository
from trustbuild.errors import NotFoundError, ResponseTooLarge


class MemoryFetcher:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.log: list[str] = []

    def fetch(self, name: str, max_length: int) -> bytes:
        self.log.append(name)
        data = self.files.get(name)
        if data is None:
            raise NotFoundError(f"{name}: 404")
        if len(data) > max_length:
            raise ResponseTooLarge(f"{name}: more than {max_length} bytes")
        return data


class MemoryCache:
    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})

    def load(self, role: str) -> bytes | None:
        return self.files.get(role)

    def store(self, role: str, data: bytes) -> None:
        self.files[role] = data


def updated(gun: str, served: dict[str, bytes], cache: MemoryCache, **kw: Any
            ) -> TrustedRepository:
    """A repository updated from *served* into *cache*."""
    kw.setdefault("now", datetime.now(UTC))
    repo = TrustedRepository(gun, MemoryFetcher(served), cache, server="memory", **kw)
    repo.update()
    return repo
