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

LOCK_FILE = ".trustbuild.lock"


def atomic_write(path: Path, data: bytes, *, mode: int, durable: bool = False) -> None:
    """*data* to *path* through a temp file renamed into place, so that readers (docker and
    the notary CLI too) see the old file or the new one, never part of one.  *durable*
    flushes it to disk first.  (``tempfile`` would load ``shutil`` and its compression
    modules, 4-10 ms of a first run, for a name.)"""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # whatever the umask
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
            # The trust anchor must survive a crash whole.  Any other role is checked
            # against its parent's hash before use and fetched again if it was lost, so it
            # is not worth a disk flush on every update.
            atomic_write(path, data, mode=0o644, durable=role == "root")
        except OSError as exc:
            raise MetadataError(f"cannot write cached {role} metadata: {exc}") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize updates of this repository across processes."""
        try:
            self.repo_dir.mkdir(parents=True, exist_ok=True)
            # A lock file opened for writing, not the directory: over NFS flock is emulated
            # with fcntl locks, which need a descriptor open for writing.
            fd = os.open(self.repo_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise MetadataError(f"cannot lock the trust cache: {exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise MetadataError(f"cannot lock the trust cache: {exc}") from None
            yield
        finally:
            os.close(fd)  # releases the lock


class ReadOnlyCache(MetadataCache):
    """For offline mode: read, never write."""

    def store(self, role: str, data: bytes) -> None:
        return None
