"""Fetching ahead the files a repository's first update reads.

With nothing cached, an update reads five files in a chain (root, timestamp, then snapshot,
targets and ``targets/releases``, each by a hash its parent lists): five round trips in a
row per repository, and the first signature check waits for ``cryptography`` to load (about
25 ms).  For such repositories the client asks each server for the current files by name, all
requests in one write, loads ``cryptography`` while the server answers, then reads the
answers; see ``TrustClient.resolve_many``.

Nothing fetched ahead is trusted for that: :class:`FetchedAhead` hands a file to the update
only when the update asks for that very file, by its name, or by a hash and length the file
has (and the update checks the file as it checks any download).  A file the update does not
take is dropped; one that is missing (an error, a change on the server meanwhile) the update
fetches itself, as it would have without fetching ahead.
"""

from __future__ import annotations

import hashlib

# The files an update of a repository with nothing cached reads, by their current names.
FIRST_READS = ("root", "timestamp", "snapshot", "targets", "targets/releases")
MAX_AHEAD_SIZE = 4 * 1024 * 1024
# Repositories per batch (one connection each).  All requests go out before any answer is
# read, so a batch must fit in the sockets' buffers: a server that stops reading requests
# while its answers wait would otherwise stall both sides until the read timeout.
REPOSITORIES_PER_BATCH = 32


class FetchedAhead:
    """The current files of one repository, each served at most once."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = dict(files)  # by role
        self.served = False  # whether the update took any

    def __len__(self) -> int:
        return len(self._files)

    def take(self, name: str, max_length: int) -> bytes | None:
        """The file for a request of *name* (``<role>.json`` or ``<role>.<sha256>.json``) if
        it was fetched ahead and is that file; None: fetch it."""
        stem = name.removesuffix(".json")
        role, _, digest = stem.rpartition(".")
        if not role or len(digest) != 64:
            role, digest = stem, ""
        data = self._files.pop(role, None)
        if data is None or len(data) > max_length:
            return None
        if digest and hashlib.sha256(data).hexdigest() != digest:
            return None
        self.served = True
        return data


def first_read_paths(base_path: str) -> list[str]:
    """The request paths of :data:`FIRST_READS` under *base_path*
    (``/v2/<gun>/_trust/tuf/``)."""
    return [f"{base_path}{role}.json" for role in FIRST_READS]


def fetched_ahead(base_path: str, bodies: dict[str, bytes]) -> FetchedAhead:
    """What a batch answered for one repository's :func:`first_read_paths`."""
    return FetchedAhead({role: bodies[path] for role, path
                         in zip(FIRST_READS, first_read_paths(base_path), strict=True)
                         if path in bodies})
