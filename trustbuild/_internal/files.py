"""Reading files that may come from the build context (a Dockerfile, a project policy, a
lock, a ``.gitignore``): whoever wrote the change chose them, so a file is read only when it
is a regular file of bounded size and, where a directory is given, a symlink does not lead out
of it (docker itself refuses a Dockerfile outside its build context)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from trustbuild.errors import TrustbuildError

MAX_DOCKERFILE = 16 * 1024 * 1024
MAX_SMALL_FILE = 1024 * 1024  # policies, locks, ignore files


def read_bounded(path: Path, *, limit: int, within: Path | None = None,
                 error: type[TrustbuildError], what: str) -> bytes:
    """The bytes of *path*; *error* naming *what* when it is not a regular file, is larger
    than *limit*, cannot be read, or (with *within*) resolves outside that directory."""
    if within is not None:
        real, root = os.path.realpath(path), os.path.realpath(within)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise error(f"{what} {str(path)!r} leads outside {str(within)!r} (a symlink to "
                        f"{real}): refusing to read it")
    try:
        # O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise error(f"{what} {str(path)!r} is not a regular file")
            os.set_blocking(fd, True)
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {str(path)!r} is larger than {limit // 1024} KiB: refusing it")
    return data
