"""The trust cache in docker's and the notary CLI's layout, shared with them.

``<trust dir>/tuf/<gun>/metadata/<role>.json`` (delegations under ``targets/``), holding the
exact bytes the server served.  Writes are atomic (a temp file renamed into place), and one
process at a time updates a repository (an ``flock`` on ``tuf/<gun>/.trustbuild.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from trustbuild.errors import ExecutionError, MetadataError

LOCK_FILE = ".trustbuild.lock"


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int) -> None:
    """*data* to *path* through a temp file renamed into place, so that readers (docker and
    the notary CLI too) see the old file or the new one, never part of one.  (``tempfile``
    would load ``shutil`` and its compression modules, 4-10 ms of a first run, for a name.)"""
    directory, name = os.path.split(os.fspath(path))
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_file(path: str, limit: int = -1) -> bytes:
    """The file's bytes (its first *limit* when not -1), unbuffered: most files here are
    read once, whole."""
    with open(path, "rb", buffering=0) as handle:
        return handle.readall() if limit < 0 else handle.read(limit)



class MetadataCache:
    def __init__(self, trust_dir: Path, gun: str) -> None:
        if ".." in gun.split("/") or gun.startswith("/"):
            raise MetadataError(f"invalid repository name {gun!r}")
        self.repo_dir = trust_dir / "tuf" / gun
        # Strings from here on: pathlib costs more than the file operations on a first run.
        self._repo = os.fspath(self.repo_dir)
        self._metadata = os.path.join(self._repo, "metadata")
        self._made: set[str] = set()  # directories known to exist

    def _path(self, role: str) -> str:
        if ".." in role.split("/"):
            raise MetadataError(f"invalid role name {role!r}")
        return f"{self._metadata}/{role}.json"

    def load(self, role: str) -> bytes | None:
        try:
            return read_file(self._path(role))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MetadataError(f"cannot read cached {role} metadata: {exc}") from None

    def store(self, role: str, data: bytes) -> None:
        path = self._path(role)
        directory = os.path.dirname(path)
        try:
            if directory not in self._made:
                os.makedirs(directory, exist_ok=True)
                self._made.add(directory)
            # Not flushed to disk, as docker and the notary CLI do not: a file a crash lost
            # is fetched again, and a root a crash left torn stops every update of the
            # repository until it is restored or removed (see TrustedRepository).
            atomic_write(path, data, mode=0o644)
        except OSError as exc:
            raise ExecutionError(f"cannot write cached {role} metadata in {self._repo}: "
                                 f"{exc.strerror or exc}") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize updates of this repository across processes."""
        try:
            os.makedirs(self._repo, exist_ok=True)
            # A lock file opened for writing, not the directory: over NFS flock is emulated
            # with fcntl locks, which need a descriptor open for writing.
            fd = os.open(os.path.join(self._repo, LOCK_FILE),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ExecutionError(f"cannot lock the trust cache in {self._repo}: "
                                 f"{exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise ExecutionError(f"cannot lock the trust cache in {self._repo}: "
                                 f"{exc.strerror or exc}") from None
            yield
        finally:
            os.close(fd)  # releases the lock


class ReadOnlyCache(MetadataCache):
    """For offline mode: read, never write."""

    def store(self, role: str, data: bytes) -> None:
        return None
