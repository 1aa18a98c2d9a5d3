"""Notary's metadata format: the signed envelope and the four roles plus delegations.

Parsing checks notary's structure rules (tuf/data/*.go) and stops at the first violation.
Signatures are checked over the canonical re-encoding of ``signed`` (see ``canonical``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from trustbuild._internal.notary import canonical
from trustbuild._internal.notary.keys import PublicKey, parse_key
from trustbuild.errors import (
    CanonicalJSONError,
    ExpiredError,
    HashMismatchError,
    MetadataError,
    RollbackError,
    SignatureError,
)

ROLE_TYPES = {"root": "Root", "targets": "Targets", "snapshot": "Snapshot",
              "timestamp": "Timestamp"}
HASH_SIZES = {"sha256": 32, "sha512": 64}
_DELEGATION_NAME = re.compile(r"targets/[-a-z0-9_/]+\Z")
_EXPIRES = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})\Z",
    re.ASCII)  # Go's time.Parse takes ASCII digits only


@dataclass(frozen=True, slots=True)
class Signature:
    keyid: str
    method: str
    sig: bytes


@dataclass(frozen=True)  # no slots: signed_bytes is a cached_property
class Envelope:
    """A metadata file: its exact bytes and their SHA-256, the fields, the signatures."""

    raw: bytes
    sha256: bytes
    signed: dict[str, Any]
    signatures: tuple[Signature, ...]

    @classmethod
    def parse(cls, raw: bytes, role: str) -> Envelope:
        try:
            doc = canonical.loads(raw)
        except CanonicalJSONError as exc:
            raise MetadataError(f"{role}: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("signed"), dict):
            raise MetadataError(f"{role}: not a signed metadata document")
        sigs = doc.get("signatures")
        if not isinstance(sigs, list):
            raise MetadataError(f"{role}: signatures must be a list")
        return cls(raw, hashlib.sha256(raw).digest(), doc["signed"],
                   tuple(_signature(s, role) for s in sigs))

    @cached_property
    def signed_bytes(self) -> bytes:
        """The canonical bytes signatures cover; computed only when a signature has to be
        checked (see ``facts``)."""
        try:
            return canonical.encode(self.signed)
        except CanonicalJSONError as exc:
            raise MetadataError(f"{self.signed.get('_type', 'metadata')}: {exc}") from None


def _signature(obj: Any, role: str) -> Signature:
    if not isinstance(obj, dict):
        raise MetadataError(f"{role}: a signature must be an object")
    keyid, method, sig = obj.get("keyid"), obj.get("method"), obj.get("sig")
    if not (isinstance(keyid, str) and isinstance(method, str) and isinstance(sig, str)):
        raise MetadataError(f"{role}: a signature needs keyid, method and sig strings")
    if not (keyid.isascii() and method.isascii()):
        raise MetadataError(f"{role}: a signature's keyid and method must be ASCII")
    return Signature(keyid, method.lower(), _base64(sig, f"{role}: signature"))


def _base64(text: str, what: str) -> bytes:
    """Standard base64 with padding, nothing else (a non-ASCII digit included)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MetadataError(f"{what} is not base64") from None


def parse_expires(value: Any, role: str) -> datetime:
    """Go's RFC 3339 with up to nanoseconds and a zone offset, as UTC (to microseconds)."""
    match = _EXPIRES.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise MetadataError(f"{role}: expires {value!r} is not an RFC 3339 time")
    y, mo, d, h, mi, s, frac, zone = match.groups()
    micro = int((frac or "0").ljust(9, "0")[:6])
    try:
        stamp = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            stamp -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError) as exc:
        raise MetadataError(f"{role}: expires {value!r}: {exc}") from None
    return stamp


@dataclass(frozen=True, slots=True)
class FileMeta:
    length: int
    hashes: Mapping[str, bytes]

    @classmethod
    def parse(cls, obj: Any, what: str) -> FileMeta:
        if not isinstance(obj, dict):
            raise MetadataError(f"{what}: file info must be an object")
        length, raw_hashes = _whole(obj.get("length"), f"{what}: length"), obj.get("hashes")
        if not isinstance(raw_hashes, dict) or not raw_hashes:
            raise MetadataError(f"{what}: hashes missing")
        hashes: dict[str, bytes] = {}
        for alg, value in raw_hashes.items():
            if not isinstance(value, str):
                raise MetadataError(f"{what}: hash {alg} must be base64 text")
            hashes[alg] = _base64(value, f"{what}: hash {alg}")
            if alg in HASH_SIZES and len(hashes[alg]) != HASH_SIZES[alg]:
                raise MetadataError(f"{what}: {alg} hash has the wrong length")
        return cls(length, hashes)

    @property
    def sha256_hex(self) -> str | None:
        value = self.hashes.get("sha256")
        return value.hex() if value is not None else None

    def check(self, data: bytes, what: str) -> None:
        """Length and every known hash must match (``CheckHashes``)."""
        if len(data) != self.length:
            raise HashMismatchError(f"{what}: length {len(data)} differs from the {self.length} "
                                    "bytes its parent metadata lists")
        known = [alg for alg in self.hashes if alg in HASH_SIZES]
        if not known:
            raise HashMismatchError(f"{what}: no known hash algorithm listed")
        for alg in known:
            if not hmac.compare_digest(hashlib.new(alg, data).digest(), self.hashes[alg]):
                raise HashMismatchError(f"{what}: {alg} differs from its parent metadata")

    def matches(self, data: bytes) -> bool:
        try:
            self.check(data, "")
        except HashMismatchError:
            return False
        return True


def _whole(value: Any, what: str, minimum: int = 0) -> int:
    """A JSON number that is a whole number (Go decodes every number as a float64)."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or (isinstance(value, float) and not value.is_integer()) or value < minimum:
        raise MetadataError(f"{what} must be a whole number of at least {minimum}")
    return int(value)


@dataclass(frozen=True, slots=True)
class RoleKeys:
    keyids: tuple[str, ...]
    threshold: int


@dataclass(frozen=True, slots=True)
class Delegation:
    name: str
    keyids: tuple[str, ...]
    threshold: int
    paths: tuple[str, ...]

    def covers(self, target: str) -> bool:
        return any(target.startswith(p) for p in self.paths)


@dataclass(frozen=True, slots=True)
class Signed:
    """What every role has."""

    role: str
    version: int
    expires: datetime
    envelope: Envelope = field(repr=False)

    def check_expiry(self, now: datetime) -> None:
        if now > self.expires:
            raise ExpiredError(f"{self.role} expired at {self.expires:%Y-%m-%d %H:%M:%S} UTC")

    def check_not_older(self, previous: Signed | None) -> None:
        if previous is not None and self.version < previous.version:
            raise RollbackError(f"{self.role} version {self.version} is lower than version "
                                f"{previous.version} seen before")


@dataclass(frozen=True, slots=True)
class Root(Signed):
    keys: Mapping[str, PublicKey] = field(default_factory=dict)
    roles: Mapping[str, RoleKeys] = field(default_factory=dict)
    consistent_snapshot: bool = False


@dataclass(frozen=True, slots=True)
class Timestamp(Signed):
    snapshot: FileMeta | None = None


@dataclass(frozen=True, slots=True)
class Snapshot(Signed):
    meta: Mapping[str, FileMeta] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Targets(Signed):
    targets: Mapping[str, FileMeta] = field(default_factory=dict)
    delegation_keys: Mapping[str, PublicKey] = field(default_factory=dict)
    delegations: tuple[Delegation, ...] = ()


def _common(env: Envelope, role: str) -> tuple[int, datetime]:
    signed = env.signed
    expected = ROLE_TYPES["targets" if role.startswith("targets/") else role]
    if signed.get("_type") != expected:
        raise MetadataError(f"{role}: _type is {signed.get('_type')!r}, not {expected!r}")
    version = _whole(signed.get("version"), f"{role}: version", 1)
    return version, parse_expires(signed.get("expires"), role)


def _keys(obj: Any, what: str) -> dict[str, PublicKey]:
    if not isinstance(obj, dict):
        raise MetadataError(f"{what}: keys must be an object")
    return {keyid: _key(key, f"{what}: key {keyid[:12]}") for keyid, key in obj.items()}


def _key(obj: Any, what: str) -> PublicKey:
    keyval = obj.get("keyval") if isinstance(obj, dict) else None
    public = keyval.get("public") if isinstance(keyval, dict) else None
    if isinstance(public, str):
        _base64(public, f"{what}: keyval.public")  # before anything hashes or decodes it
    return parse_key(obj)


def _keyids(obj: Any, what: str) -> tuple[str, ...]:
    if obj is None:  # notary writes null once every key is removed
        return ()
    if not isinstance(obj, list) or not all(isinstance(k, str) for k in obj):
        raise MetadataError(f"{what}: keyids must be a list of strings")
    return tuple(dict.fromkeys(obj))


def _threshold(obj: Any, what: str) -> int:
    return _whole(obj, f"{what}: threshold", 1)


def parse_root(raw: bytes) -> Root:
    env = Envelope.parse(raw, "root")
    version, expires = _common(env, "root")
    keys = _keys(env.signed.get("keys"), "root")
    roles_obj = env.signed.get("roles")
    if not isinstance(roles_obj, dict):
        raise MetadataError("root: roles must be an object")
    roles: dict[str, RoleKeys] = {}
    for name in ROLE_TYPES:
        spec = roles_obj.get(name)
        if not isinstance(spec, dict):
            raise MetadataError(f"root: role {name} is missing")
        keyids = _keyids(spec.get("keyids"), f"root role {name}")
        missing = [k for k in keyids if k not in keys]
        if missing:
            raise MetadataError(f"root: role {name} lists unknown key {missing[0]}")
        roles[name] = RoleKeys(keyids, _threshold(spec.get("threshold"), f"root role {name}"))
    return Root("root", version, expires, env, keys, roles,
                bool(env.signed.get("consistent_snapshot", False)))


def parse_timestamp(raw: bytes) -> Timestamp:
    env = Envelope.parse(raw, "timestamp")
    version, expires = _common(env, "timestamp")
    meta = env.signed.get("meta")
    if not isinstance(meta, dict) or "snapshot" not in meta:
        raise MetadataError("timestamp: meta must list snapshot")
    snapshot = FileMeta.parse(meta["snapshot"], "timestamp meta snapshot")
    if "sha256" not in snapshot.hashes:
        raise MetadataError("timestamp: snapshot needs a sha256 hash")
    return Timestamp("timestamp", version, expires, env, snapshot)


def parse_snapshot(raw: bytes) -> Snapshot:
    env = Envelope.parse(raw, "snapshot")
    version, expires = _common(env, "snapshot")
    meta_obj = env.signed.get("meta")
    if not isinstance(meta_obj, dict):
        raise MetadataError("snapshot: meta must be an object")
    meta = {name: FileMeta.parse(info, f"snapshot meta {name}") for name, info in
            meta_obj.items()}
    for required in ("root", "targets"):
        if required not in meta or "sha256" not in meta[required].hashes:
            raise MetadataError(f"snapshot: meta must list {required} with a sha256 hash")
    return Snapshot("snapshot", version, expires, env, meta)


def parse_targets(raw: bytes, role: str = "targets") -> Targets:
    env = Envelope.parse(raw, role)
    version, expires = _common(env, role)
    targets_obj = env.signed.get("targets")
    if not isinstance(targets_obj, dict):
        raise MetadataError(f"{role}: targets must be an object")
    targets = {name: FileMeta.parse(info, f"{role} target {name}")
               for name, info in targets_obj.items()}
    keys, delegations = _delegations(env.signed.get("delegations"), role)
    return Targets(role, version, expires, env, targets, keys, delegations)


def _delegations(obj: Any, parent: str) -> tuple[dict[str, PublicKey], tuple[Delegation, ...]]:
    if obj is None:
        return {}, ()
    if not isinstance(obj, dict):
        raise MetadataError(f"{parent}: delegations must be an object")
    keys = _keys(obj.get("keys") or {}, f"{parent} delegations")
    roles_obj = obj.get("roles") or []
    if not isinstance(roles_obj, list):
        raise MetadataError(f"{parent}: delegations.roles must be a list")
    found: list[Delegation] = []
    for spec in roles_obj:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise MetadataError(f"{parent}: a delegation needs a name")
        name = spec["name"]
        if (not _DELEGATION_NAME.match(name) or len(name) >= 256
                or posixpath.normpath(name) != name or posixpath.dirname(name) != parent):
            raise MetadataError(f"{parent}: invalid delegation name {name!r}")
        keyids = _keyids(spec.get("keyids"), name)
        missing = [k for k in keyids if k not in keys]
        if missing:
            raise MetadataError(f"{name}: lists unknown key {missing[0]}")
        paths = spec.get("paths") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise MetadataError(f"{name}: paths must be a list of strings")
        found.append(Delegation(name, keyids, _threshold(spec.get("threshold"), name),
                                tuple(paths)))
    return keys, tuple(found)


def verify_signatures(signed: Signed, keys: Mapping[str, PublicKey], role: RoleKeys) -> None:
    """A threshold of distinct keys of *role* must have signed (``VerifySignatures``).

    A listed key whose content does not hash to its key ID is a hard error; two keys (or two
    certificates) over the same public key count once."""
    env = signed.envelope
    if not env.signatures:
        raise SignatureError(f"{signed.role} has no signatures")
    valid: set[str] = set()
    for sig in env.signatures:
        if sig.keyid not in role.keyids:
            continue
        key = keys.get(sig.keyid)
        if key is None:
            continue
        if key.keyid != sig.keyid:
            raise SignatureError(f"{signed.role}: key ID {sig.keyid} is not valid for its key "
                                 "content")
        if key.verify(sig.method, sig.sig, env):
            valid.add(key.spki)
    if len(valid) < role.threshold:
        raise SignatureError(f"valid signatures did not meet threshold for {signed.role} "
                             f"({len(valid)} of {role.threshold})")
