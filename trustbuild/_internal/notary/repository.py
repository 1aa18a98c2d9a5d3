"""One repository's trust data, verified: the notary client's update workflow, fail-closed.

Root (trust on first use, or the cached root; rotation through versioned roots), then
timestamp → snapshot → targets → delegations, each checked for hash and length, signatures
(a threshold of distinct keys), rollback against the cache and expiry.  Snapshot, targets and
delegations are fetched by hash and reused from the cache when the hash still matches.

Where the notary client is weak, this is stricter: no fallback to cached data when the server
cannot be asked (only an explicit offline mode reads the cache alone, and only while nothing
has expired); an expired or unsatisfiable ``targets/releases`` is an error, not a silent
fallback to ``targets``, and so is a ``targets/releases`` the snapshot leaves out; with trust
on first use off, a cached root is no pin either.

I/O goes through two small interfaces, :class:`Fetcher` and :class:`Cache`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from trustbuild._internal.notary.keys import PublicKey
from trustbuild._internal.notary.metadata import (
    FileMeta,
    RoleKeys,
    Root,
    Signed,
    Snapshot,
    Targets,
    Timestamp,
    parse_root,
    parse_snapshot,
    parse_targets,
    parse_timestamp,
    verify_signatures,
)
from trustbuild._internal.notary.roots import RootPin, check_root
from trustbuild.errors import (
    MetadataError,
    NotFoundError,
    NoTrustData,
    OfflineError,
    Reason,
    RollbackError,
    RootError,
    SignatureError,
    TrustError,
)

MAX_ROOT_SIZE = 1024 * 1024
MAX_TIMESTAMP_SIZE = 1024 * 1024
MAX_ROOT_ROTATIONS = 256
MAX_DELEGATION_DEPTH = 32
# Moves to a newer root during one update: one after a signature failure, then one for each
# root hash a snapshot lists (a server whose root.json lags its snapshot needs both).
MAX_UPDATE_ROTATIONS = 3
RELEASES = "targets/releases"
ACCEPTED_ROLES = (RELEASES, "targets")
MAX_DELEGATIONS_WALKED = 256

S = TypeVar("S", bound=Signed)


class Fetcher(Protocol):
    def fetch(self, name: str, max_length: int) -> bytes:
        """The file ``name`` (e.g. ``timestamp.json``) of this repository, at most
        ``max_length`` bytes; :class:`NotFoundError` when the server has none."""


class Cache(Protocol):
    def load(self, role: str) -> bytes | None: ...

    def store(self, role: str, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class SignedTarget:
    tag: str
    digest: str  # sha256:<hex>
    size: int
    role: str


class TrustedRepository:
    """Verified trust data of one GUN; call :meth:`update` once, then look up tags."""

    def __init__(self, gun: str, fetcher: Fetcher, cache: Cache, *, now: datetime,
                 server: str, offline: bool = False, pin: RootPin | None = None,
                 allow_tofu: bool = True, grace: timedelta = timedelta(0)) -> None:
        self.gun = gun
        self.server = server
        self._fetcher = fetcher
        self._cache = cache
        self._now = now
        self._offline = offline
        self._pin = pin
        self._allow_tofu = allow_tofu
        self._grace = grace
        self.notes: list[str] = []  # what the answer rests on beyond the rules (offline, grace)
        self.root: Root | None = None
        self.timestamp: Timestamp | None = None
        self.snapshot: Snapshot | None = None
        self.targets: Targets | None = None
        self._delegations: dict[str, Targets | None] = {}
        # Every root trusted during this update, oldest first: cached metadata that verifies
        # under any of them sets the rollback floor, so a key rotation does not reset it.
        self._trusted_roots: list[Root] = []

    # -- update ------------------------------------------------------------------------------

    def update(self) -> None:
        try:
            self._load_root()
            self._update_chain_rotating()
        except TrustError as exc:
            raise exc.with_context(self.gun, self.server) from None

    def _update_chain_rotating(self) -> None:
        """The chain from the timestamp down; a newer root when the snapshot lists one, or
        once when a signature fails (a role key may have been rotated in a newer root)."""
        looked_after_signature = False
        for _ in range(MAX_UPDATE_ROTATIONS):
            try:
                self._update_chain()
                return
            except _RootChanged as changed:
                self._rotate_root(changed.meta)
            except SignatureError:
                if self._offline or looked_after_signature or not self._rotate_root(None):
                    raise
                looked_after_signature = True
        try:
            self._update_chain()
        except _RootChanged as changed:
            root = self._require(self.root)
            raise RootError(f"the snapshot lists a root (sha256 {changed.meta.sha256_hex}) "
                            f"that is not the trusted root (version {root.version}), even "
                            f"after moving to the server's newest root {MAX_UPDATE_ROTATIONS} "
                            "times: the server's root does not match its snapshot") from None

    def _fetch(self, name: str, max_length: int) -> bytes:
        if self._offline:
            raise OfflineError(f"offline mode: {name} is not in the local trust cache")
        return self._fetcher.fetch(name, max_length)

    def _load_root(self) -> None:
        if not self._allow_tofu and self._pin is None:
            # A cached root is no pin: docker, the notary CLI and looser policies write the
            # same cache.
            raise RootError("no root is pinned for this repository and trust on first use is "
                            "disabled (a root in the trust cache does not count: docker and "
                            "the notary CLI share it)", reason=Reason.NO_PINNED_ROOT)
        cached = self._cache.load("root")
        if cached is not None:
            try:
                root = parse_root(cached)
            except MetadataError as exc:
                # The anchor: nothing is trusted past it, and nothing replaces it unasked.
                raise RootError(f"the cached root (metadata/root.json in the trust dir) is "
                                f"unreadable: {exc}; it is this repository's trust anchor, so "
                                "restore it, or remove it to trust the server's root again"
                                ) from None
            check_root(root, self.gun, self._now, pin=self._pin)
            self._trust_root(root)
            if self._now > root.expires and not self._offline:
                self._rotate_root(None)  # a newer root, if the server has one
            # the newest trusted root must not have expired (notary, python-tuf)
            self._check_expiry(self._require(self.root))
            return
        if self._offline:
            raise OfflineError("offline mode: no cached root for this repository")
        try:
            raw = self._fetcher.fetch("root.json", MAX_ROOT_SIZE)
        except NotFoundError:
            raise NoTrustData(f"{self.server} does not have trust data for {self.gun}",
                              reason=Reason.NO_TRUST_DATA) from None
        root = parse_root(raw)
        check_root(root, self.gun, self._now, pin=self._pin)
        self._check_expiry(root)
        self._trust_root(root)
        self._cache.store("root", raw)

    def _trust_root(self, root: Root) -> None:
        self.root = root
        self._trusted_roots.append(root)

    def _rotate_root(self, meta: FileMeta | None) -> bool:
        """Move to the server's newest root, verified step by step.  False: no newer root."""
        current = self._require(self.root)
        if meta is not None and meta.sha256_hex:
            raw = self._fetch(f"root.{meta.sha256_hex}.json", meta.length)
            meta.check(raw, "root")
        else:
            raw = self._fetch("root.json", MAX_ROOT_SIZE)
        newest = parse_root(raw)
        if newest.envelope.raw == current.envelope.raw:
            return False
        try:
            check_root(newest, self.gun, self._now, previous=current, pin=self._pin)
        except RootError:
            if newest.version <= current.version + 1:
                raise
            self._walk_roots(current, newest)
        if newest.version <= current.version:
            raise RootError(f"the server's root (version {newest.version}) is not newer than "
                            f"the trusted root (version {current.version})")
        self._check_expiry(newest)
        self._trust_root(newest)
        self._cache.store("root", raw)
        self.timestamp = self.snapshot = self.targets = None
        self._delegations.clear()
        return True

    def _walk_roots(self, current: Root, newest: Root) -> None:
        if newest.version - current.version > MAX_ROOT_ROTATIONS:
            raise RootError(f"root jumps from version {current.version} to {newest.version}")
        previous = current
        for version in range(current.version + 1, newest.version):
            step = parse_root(self._fetch(f"{version}.root.json", MAX_ROOT_SIZE))
            if step.version != version:
                raise RootError(f"{version}.root.json holds root version {step.version}")
            # the pin decides which root to end on; intermediate roots need only the chain
            check_root(step, self.gun, self._now, previous=previous)
            previous = step
        check_root(newest, self.gun, self._now, previous=previous, pin=self._pin)

    def _update_chain(self) -> None:
        root = self._require(self.root)
        self.timestamp = self._timestamp(root)
        snapshot_meta = self.timestamp.snapshot
        assert snapshot_meta is not None
        self.snapshot = self._role_by_hash("snapshot", snapshot_meta, parse_snapshot,
                                           self._verifier("snapshot"),
                                           self._floor_verifiers("snapshot"))
        root_meta = self.snapshot.meta["root"]
        if not root_meta.matches(root.envelope.raw):
            raise _RootChanged(root_meta)
        self.targets = self._role_by_hash("targets", self.snapshot.meta["targets"],
                                          parse_targets, self._verifier("targets"),
                                          self._floor_verifiers("targets"))
        self._delegations.clear()
        self.role(RELEASES)  # loaded now, so lookups need no I/O (and checked if hidden)

    def _verifier(self, role: str) -> Callable[[Signed], None]:
        return _signed_by(self._require(self.root), role)

    def _floor_verifiers(self, role: str) -> list[Callable[[Signed], None]]:
        """Whoever's signature makes a cached copy of a top-level *role* count as seen:
        the keys of any root trusted in this update (notary keeps the version floor across a
        key rotation the same way: its previous builder checks the cache against the
        previous root)."""
        return [_signed_by(root, role) for root in reversed(self._trusted_roots)]

    def _timestamp(self, root: Root) -> Timestamp:
        cached = self._cache.load("timestamp")
        if self._offline:
            if cached is None:
                raise OfflineError("offline mode: no cached timestamp for this repository")
            raw = cached
        else:
            raw = self._fetcher.fetch("timestamp.json", MAX_TIMESTAMP_SIZE)
        timestamp = parse_timestamp(raw)
        verify_signatures(timestamp, root.keys, root.roles["timestamp"])
        if cached is not None and cached != raw:
            timestamp.check_not_older(_seen(cached, parse_timestamp,
                                            self._floor_verifiers("timestamp")))
        self._check_expiry(timestamp)
        if raw != cached:
            self._cache.store("timestamp", raw)
        return timestamp

    def _role_by_hash(self, role: str, meta: FileMeta, parse: Callable[[bytes], S],
                      verify: Callable[[S], None],
                      floor: Sequence[Callable[[S], None]] | None = None) -> S:
        cached = self._cache.load(role)
        from_cache = cached is not None and meta.matches(cached)
        if from_cache:
            assert cached is not None
            raw = cached
        else:
            sha = meta.sha256_hex
            if sha is None:
                raise MetadataError(f"{role}: its parent lists no sha256 hash to fetch it by")
            try:
                raw = self._fetch(f"{role}.{sha}.json", meta.length)
            except NotFoundError:
                raise MetadataError(f"{role} trust data unavailable on the server") from None
            meta.check(raw, role)
        signed = parse(raw)
        verify(signed)
        if not from_cache and cached is not None:
            signed.check_not_older(_seen(cached, parse, [verify] if floor is None else floor))
        self._check_expiry(signed)
        if not from_cache:
            self._cache.store(role, raw)
        return signed

    def _check_expiry(self, signed: Signed) -> None:
        """Expired is an error, except in offline mode within an explicit grace period, which
        is then noted in the answer."""
        if (self._offline and self._grace and signed.expires < self._now
                and self._now - signed.expires <= self._grace):
            self.notes.append(f"{signed.role} expired at {signed.expires:%Y-%m-%d %H:%M:%S} UTC;"
                              f" accepted offline within the {self._grace} grace period")
            return
        signed.check_expiry(self._now)

    @staticmethod
    def _require(value: S | None) -> S:
        if value is None:
            raise MetadataError("trust data used before it was loaded")
        return value

    # -- delegations -------------------------------------------------------------------------

    def role(self, name: str) -> Targets | None:
        """A verified targets role, or None when it is not delegated.

        A delegation its parent declares must be in the snapshot, and so must one this
        machine verified before (its file is in the cache): a snapshot that leaves either out
        is an error, never a reason to answer from ``targets`` instead (python-tuf refuses
        the same)."""
        targets = self._require(self.targets)
        if name == "targets":
            return targets
        if name in self._delegations:
            return self._delegations[name]
        if name.count("/") > MAX_DELEGATION_DEPTH:
            raise MetadataError(f"delegation {name} is nested too deeply")
        parent_name = posixpath.dirname(name)
        parent = self.role(parent_name)
        declared = next((d for d in parent.delegations if d.name == name), None) \
            if parent else None
        snapshot = self._require(self.snapshot)
        listed = name in snapshot.meta
        loaded: Targets | None = None
        if parent is not None and declared is not None:
            if not listed:
                raise MetadataError(f"{parent_name} delegates {name}, but the snapshot does not "
                                    "list it: its signed tags cannot be checked, and answering "
                                    "from another role instead could roll a tag back")
            if not declared.keyids:
                raise SignatureError(f"{name} has no keys, so nothing it lists can be trusted")
            role_keys = RoleKeys(declared.keyids, declared.threshold)
            loaded = self._role_by_hash(
                name, snapshot.meta[name], lambda raw: parse_targets(raw, name),
                lambda t: verify_signatures(t, parent.delegation_keys, role_keys))
        elif not listed and self._cache.load(name) is not None:
            raise RollbackError(f"{name} was verified before (it is in the trust cache) and "
                                "the snapshot no longer lists it: its tags would silently "
                                "resolve through another role.  If the repository's owner "
                                f"removed {name} on purpose, remove metadata/{name}.json from "
                                "this repository's trust cache")
        self._delegations[name] = loaded
        return loaded

    def paths_of(self, name: str) -> tuple[str, ...]:
        """The target prefixes *name* may sign, restricted by every ancestor's paths."""
        if name == "targets":
            return ("",)
        parent = posixpath.dirname(name)
        parent_paths = self.paths_of(parent)
        parent_role = self.role(parent)
        declared = next((d for d in parent_role.delegations if d.name == name), None) \
            if parent_role else None
        if declared is None:
            return ()
        return tuple(p for p in declared.paths if any(p.startswith(pp) for pp in parent_paths))

    # -- answers -----------------------------------------------------------------------------

    def lookup(self, tag: str) -> SignedTarget:
        """The digest signed for *tag*: ``targets/releases`` first, then ``targets``."""
        for role_name in ACCEPTED_ROLES:
            if not any(tag.startswith(p) for p in self._paths_if_delegated(role_name)):
                continue
            role = self.role(role_name)
            if role is not None and tag in role.targets:
                return _signed_target(tag, role.targets[tag], role_name)
            if role is not None and role_name == RELEASES:
                # notary walks a role's delegations too: docker finds the tag in a child of
                # targets/releases first, and refuses it rather than look in targets
                below = self.other_signers(tag, under=role, strict=True)
                if below:
                    raise NoTrustData(
                        f"No trust data for {tag}: it is signed by {', '.join(below)} below "
                        f"{RELEASES} (not by {RELEASES} itself), which docker refuses before "
                        "it looks in targets", gun=self.gun, server=self.server,
                        reason=Reason.SIGNED_BY_OTHER_ROLE, signed_by=below)
        others = self.other_signers(tag)
        if others:
            raise NoTrustData(f"No trust data for {tag}: it is signed only by "
                              f"{', '.join(others)}; trustbuild accepts {RELEASES} or targets",
                              gun=self.gun, server=self.server,
                              reason=Reason.SIGNED_BY_OTHER_ROLE, signed_by=others)
        raise NoTrustData(f"No trust data for {tag}", gun=self.gun, server=self.server)

    def other_signers(self, tag: str, under: Targets | None = None, *,
                      strict: bool = False) -> tuple[str, ...]:
        """The delegations other than the accepted roles that sign *tag* (within their
        paths), below *under* (default: targets): nothing they sign is trusted.  For a
        message, a delegation that cannot be read is left out; where the answer decides
        (*strict*), it is an error, as is a tree too large to walk."""
        found: list[str] = []
        queue = [d.name for d in (under or self._require(self.targets)).delegations]
        seen: set[str] = set()
        while queue and len(seen) < MAX_DELEGATIONS_WALKED:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            try:
                role = self.role(name)
                covered = any(tag.startswith(p) for p in self.paths_of(name))
            except TrustError:
                if strict:
                    raise
                continue
            if role is None:
                continue
            if covered and tag in role.targets and name not in ACCEPTED_ROLES:
                found.append(name)
            queue.extend(d.name for d in role.delegations)
        if strict and queue:
            raise MetadataError(f"more than {MAX_DELEGATIONS_WALKED} delegations to walk for "
                                f"{tag}: trustbuild cannot tell whether one signs it")
        return tuple(found)

    def _paths_if_delegated(self, role_name: str) -> tuple[str, ...]:
        if role_name == "targets":
            return ("",)
        targets = self._require(self.targets)
        if not any(d.name == role_name for d in targets.delegations):
            return ()
        return self.paths_of(role_name)

    def accepted_targets(self) -> Iterator[SignedTarget]:
        """Every tag as a lookup would answer it."""
        seen: set[str] = set()
        for role_name in ACCEPTED_ROLES:
            paths = self._paths_if_delegated(role_name)
            role = self.role(role_name) if paths else None
            if role is None:
                continue
            for tag in sorted(role.targets):
                if tag not in seen and any(tag.startswith(p) for p in paths):
                    seen.add(tag)  # (a tag outside the role's paths is not its to sign)
                    yield self.lookup(tag)

    def signed_key_ids(self, role_name: str) -> set[str]:
        """Key IDs (certificate and canonical) whose signatures on *role_name* verify."""
        role = self.role(role_name)
        if role is None:
            return set()
        if role_name == "targets":
            root = self._require(self.root)
            keys: Mapping[str, PublicKey] = root.keys
        else:
            parent = self.role(posixpath.dirname(role_name))
            keys = parent.delegation_keys if parent else {}
        found: set[str] = set()
        for sig in role.envelope.signatures:
            key = keys.get(sig.keyid)
            if key is not None and key.keyid == sig.keyid and \
                    key.verify(sig.method, sig.sig, role.envelope):
                found.update((key.keyid, key.canonical_id))
        return found

    def expires(self) -> datetime:
        roles: list[Signed | None] = [self.root, self.timestamp, self.snapshot, self.targets,
                                      self._delegations.get(RELEASES)]
        return min(r.expires for r in roles if r is not None)


def _signed_target(tag: str, meta: FileMeta, role: str) -> SignedTarget:
    sha = meta.sha256_hex
    if sha is None:
        raise MetadataError(f"{role}: target {tag} has no valid hash, expecting sha256")
    return SignedTarget(tag, f"sha256:{sha}", meta.length, role)


def _signed_by(root: Root, role: str) -> Callable[[Signed], None]:
    def verify(signed: Signed) -> None:
        verify_signatures(signed, root.keys, root.roles[role])

    return verify


def _seen(cached: bytes, parse: Callable[[bytes], S],
          verifiers: Sequence[Callable[[S], None]]) -> S | None:
    """The cached copy, if it verifies under one of *verifiers*: it sets the minimum
    version (a copy nobody trusted sets none)."""
    try:
        signed = parse(cached)
    except TrustError:
        return None
    for verify in verifiers:
        try:
            verify(signed)
        except TrustError:
            continue
        return signed
    return None


class _RootChanged(Exception):
    def __init__(self, meta: FileMeta) -> None:
        super().__init__("root changed")
        self.meta = meta
