"""The trust cache in docker's and the notary CLI's layout, shared with them.

``<trust dir>/tuf/<gun>/metadata/<role>.json`` (delegations under ``targets/``), holding the
exact bytes the server served.  Writes are atomic (a temp file renamed into place; the root is
flushed to disk first), and one process at a time updates a repository (an ``flock`` on
``tuf/<gun>/.trustbuild.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from trustbuild.notary.errors import MetadataError


def trust_dir(docker_config: Path) -> Path:
    return docker_config / "trust"


class MetadataCache:
    def __init__(self, trust_dir: Path, gun: str) -> None:
        if ".." in gun.split("/") or gun.startswith("/"):
            raise MetadataError(f"invalid repository name {gun!r}")
        self.repo_dir = trust_dir / "tuf" / gun
        self.metadata_dir = self.repo_dir / "metadata"
        self._made: set[Path] = set()  # directories known to exist

    def _path(self, role: str) -> Path:
        if ".." in role.split("/"):
            raise MetadataError(f"invalid role name {role!r}")
        return self.metadata_dir / f"{role}.json"

    def load(self, role: str) -> bytes | None:
        try:
            return self._path(role).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MetadataError(f"cannot read cached {role} metadata: {exc}") from None

    def store(self, role: str, data: bytes) -> None:
        path = self._path(role)
        try:
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            import tempfile  # a warm run writes nothing

            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    if role == "root":
                        # The trust anchor must survive a crash whole.  Any other role is
                        # checked against its parent's hash before use and fetched again if
                        # it was lost, so it is not worth a disk flush on every update.
                        out.flush()
                        os.fsync(out.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise MetadataError(f"cannot write cached {role} metadata: {exc}") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize updates of this repository across processes."""
        try:
            self.repo_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.repo_dir / ".trustbuild.lock", "a+b")  # noqa: SIM115
        except OSError as exc:
            raise MetadataError(f"cannot lock the trust cache: {exc}") from None
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class ReadOnlyCache(MetadataCache):
    """For offline mode: read, never write."""

    def store(self, role: str, data: bytes) -> None:
        return None
