"""The lock file: the signed digest of every image a build pulls, with the evidence that
signed it, so that a rebuild uses exactly those digests and a diff of the file is the review
of a base-image update.

Pure: the lock is read from bytes and turned into a document here; the commands read and
write the file, ``output`` formats it.  The format is in docs/lock.md, its JSON Schema in
docs/schemas/lock.schema.json.

The lock sits in the build context, which may come from whoever opened a pull request, so it
never chooses a trust server or a policy: online, every locked digest is confirmed against
trust data the user's own settings select, and offline against the verified trust cache.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from trustbuild._internal import jsontext
from trustbuild._internal.plan import CheckReport, ImageVerdict, Status, exit_code_for
from trustbuild._internal.reference import parse_normalized
from trustbuild.errors import (
    ExitCode,
    InvalidReferenceError,
    LockfileError,
    LockMismatch,
    Reason,
)

LOCK_FILE = "trustbuild.lock.json"
LOCK_SCHEMA_VERSION = 1
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
KEY_ID = re.compile(r"[0-9a-f]{64}\Z")
_TOP_KEYS = {"schema_version", "dockerfile", "images"}
_IMAGE_KEYS = {"reference", "digest", "size", "role", "key_ids", "server",
               "metadata_version", "metadata_expires", "pulls"}
_PULL_KEYS = {"dockerfile", "line", "instruction", "written", "stage"}


@dataclass(frozen=True, slots=True)
class LockedPull:
    """Where the build pulls a locked image."""

    dockerfile: str  # relative to the lock file's directory, with forward slashes
    line: int
    instruction: str
    written: str  # the reference as the Dockerfile writes it (``${BASE}``, ``alpine:3``)
    stage: str | None


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One image and the evidence that its digest is signed for its tag."""

    reference: str  # normalized, with its tag: docker.io/library/alpine:3.20
    digest: str  # sha256:<64 hex>
    size: int
    role: str  # the role that signs it: targets/releases or targets
    key_ids: tuple[str, ...]  # keys whose signatures on that role's metadata verified
    server: str  # the trust server (host:port) that served it
    metadata_version: int  # version of the role's metadata that signs it
    metadata_expires: datetime | None  # and its expiry
    pulls: tuple[LockedPull, ...]

    def same_signing(self, other: LockEntry) -> bool:
        """Same digest, signed the same way (role, keys, server)."""
        return (self.digest, self.role, self.key_ids, self.server) == \
            (other.digest, other.role, other.key_ids, other.server)


@dataclass(frozen=True, slots=True)
class Lock:
    dockerfile: str  # the Dockerfile it locks, relative to the lock file's directory
    images: tuple[LockEntry, ...]  # sorted by reference

    def entry(self, reference: str) -> LockEntry | None:
        return next((e for e in self.images if e.reference == reference), None)


@dataclass(frozen=True, slots=True)
class LockChange:
    """What re-locking changed for one image."""

    reference: str
    kind: str  # added | updated | re-signed | removed
    old: LockEntry | None
    new: LockEntry | None


# -- from a check ----------------------------------------------------------------------------

def lock_from(report: CheckReport, dockerfile: str) -> Lock:
    """The lock of a check whose images are all trusted (or allowed without trust data by
    the policy: those have no digest to lock and are left out)."""
    pulls: dict[str, list[LockedPull]] = {}
    trusted = {}
    for verdict in report.verdicts:
        if verdict.trusted is None:
            continue
        ref = str(verdict.pull.reference)
        trusted[ref] = verdict.trusted
        pull = verdict.pull
        pulls.setdefault(ref, []).append(LockedPull(
            dockerfile, pull.line, pull.instruction, pull.written or ref,
            pull.stage if pull.stage != str(pull.stage_index) else None))
    images = []
    for ref, answer in trusted.items():
        images.append(LockEntry(
            ref, answer.digest, answer.size, answer.role, tuple(sorted(answer.key_ids)),
            answer.server, answer.role_version, answer.role_expires,
            tuple(sorted(set(pulls[ref]), key=_pull_order))))
    return Lock(dockerfile, tuple(sorted(images, key=lambda e: e.reference)))


def _pull_order(pull: LockedPull) -> tuple[int, str, str]:
    return pull.line, pull.instruction, pull.written


def relock(old: Lock | None, new: Lock) -> tuple[Lock, list[LockChange]]:
    """*new*, keeping the evidence of every entry of *old* that is still signed the same
    way (so the file changes only where the signing did); the changes, by reference."""
    changes: list[LockChange] = []
    images = []
    for entry in new.images:
        before = old.entry(entry.reference) if old is not None else None
        if before is not None and before.same_signing(entry):
            images.append(replace(before, pulls=entry.pulls))
            continue
        images.append(entry)
        kind = "added" if before is None else \
            "updated" if before.digest != entry.digest else "re-signed"
        changes.append(LockChange(entry.reference, kind, before, entry))
    if old is not None:
        changes += [LockChange(e.reference, "removed", e, None) for e in old.images
                    if new.entry(e.reference) is None]
    changes.sort(key=lambda c: c.reference)
    return Lock(new.dockerfile, tuple(images)), changes


# -- the file --------------------------------------------------------------------------------

def lock_document(lock: Lock) -> dict[str, Any]:
    """The lock as JSON, keys in a fixed order."""
    return {
        "schema_version": LOCK_SCHEMA_VERSION,
        "dockerfile": lock.dockerfile,
        "images": [{
            "reference": e.reference,
            "digest": e.digest,
            "size": e.size,
            "role": e.role,
            "key_ids": list(e.key_ids),
            "server": e.server,
            "metadata_version": e.metadata_version,
            "metadata_expires": _time_text(e.metadata_expires),
            "pulls": [{"dockerfile": p.dockerfile, "line": p.line,
                       "instruction": p.instruction, "written": p.written, "stage": p.stage}
                      for p in e.pulls],
        } for e in lock.images],
    }


def dumps(lock: Lock) -> str:
    """The file's text: two-space indent, one fixed key order, a final newline."""
    return jsontext.dumps(lock_document(lock)) + "\n"


def _time_text(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(data: bytes, source: str) -> Lock:
    """Read a lock file; anything off is one :class:`LockfileError` naming *source*."""
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LockfileError(f"{source}: not a lock file: not JSON ({exc})") from None
    except _DuplicateKey as exc:
        # json keeps the last of two equal keys, where a reviewer of the diff may read the
        # first: a lock must say one thing.
        raise LockfileError(f"{source}: not a lock file: the key {exc.key!r} appears twice "
                            "in one object") from None
    except RecursionError:
        raise LockfileError(f"{source}: not a lock file: nested too deeply") from None
    reader = _Reader(source)
    reader.keys(doc, _TOP_KEYS, "")
    version = doc.get("schema_version")
    if type(version) is not int or version != LOCK_SCHEMA_VERSION:
        raise LockfileError(f"{source}: schema_version {version!r} is not one this trustbuild "
                            f"reads ({LOCK_SCHEMA_VERSION}); run `trustbuild lock` to write it "
                            "again")
    dockerfile = reader.text(doc, "dockerfile", "")
    images = doc.get("images")
    if not isinstance(images, list):
        raise LockfileError(f"{source}: images must be a list")
    entries = [reader.entry(item, f"images[{i}]") for i, item in enumerate(images)]
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.reference in seen:
            raise LockfileError(f"{source}: images[{i}]: {entry.reference} is listed twice")
        seen.add(entry.reference)
        for pull in entry.pulls:
            if pull.dockerfile != dockerfile:
                raise LockfileError(
                    f"{source}: images[{i}] ({entry.reference}) is for Dockerfile "
                    f"{pull.dockerfile!r}, but the lock is for {dockerfile!r}")
    return Lock(dockerfile, tuple(sorted(entries, key=lambda e: e.reference)))


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


class _Reader:
    """Field-by-field checks that say which field of which entry is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> LockfileError:
        return LockfileError(f"{self.source}: {where}{': ' if where else ''}{problem}")

    def keys(self, obj: object, allowed: set[str], where: str) -> None:
        if not isinstance(obj, dict):
            raise self.fail(where, "must be a JSON object")
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r}")
        missing = sorted(allowed - set(obj))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")

    def text(self, obj: Mapping[str, Any], key: str, where: str) -> str:
        value = obj[key]
        if not isinstance(value, str) or not value:
            raise self.fail(_at(where, key), "must be a non-empty string")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, where: str, low: int = 0) -> int:
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise self.fail(_at(where, key), f"must be an integer of at least {low}")
        return value

    def entry(self, item: object, where: str) -> LockEntry:
        self.keys(item, _IMAGE_KEYS, where)
        assert isinstance(item, dict)
        reference = self.text(item, "reference", where)
        try:
            parsed = parse_normalized(reference)
        except InvalidReferenceError as exc:
            raise self.fail(_at(where, "reference"), f"{reference!r}: {exc}") from None
        if str(parsed) != reference or (parsed.tag is None and parsed.digest is None):
            raise self.fail(_at(where, "reference"), f"{reference!r} is not a normalized "
                            f"reference with a tag (as {parsed.with_default_tag()})")
        digest = self.text(item, "digest", where)
        if not DIGEST.match(digest):
            raise self.fail(_at(where, "digest"), f"{digest!r} is not 'sha256:' and 64 "
                            "lowercase hex digits")
        key_ids = item["key_ids"]
        if not isinstance(key_ids, list) or not all(
                isinstance(k, str) and KEY_ID.match(k) for k in key_ids):
            raise self.fail(_at(where, "key_ids"), "must be a list of 64-hex key IDs")
        pulls = item["pulls"]
        if not isinstance(pulls, list) or not pulls:
            raise self.fail(_at(where, "pulls"), "must be a non-empty list")
        return LockEntry(
            reference, digest, self.integer(item, "size", where),
            self.text(item, "role", where), tuple(key_ids), self.text(item, "server", where),
            self.integer(item, "metadata_version", where),
            self.time(item, "metadata_expires", where),
            tuple(self.pull(p, f"{where}.pulls[{i}]") for i, p in enumerate(pulls)))

    def time(self, obj: Mapping[str, Any], key: str, where: str) -> datetime | None:
        value = obj[key]
        if value is None:
            return None
        try:
            if not isinstance(value, str) or not value.endswith("Z"):
                raise ValueError(value)
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise self.fail(_at(where, key), f"{value!r} is not a UTC time "
                            "(YYYY-MM-DDThh:mm:ssZ)") from None

    def pull(self, item: object, where: str) -> LockedPull:
        self.keys(item, _PULL_KEYS, where)
        assert isinstance(item, dict)
        stage = item["stage"]
        if stage is not None and not isinstance(stage, str):
            raise self.fail(_at(where, "stage"), "must be a string or null")
        written = item["written"]
        if not isinstance(written, str):
            raise self.fail(_at(where, "written"), "must be a string")
        return LockedPull(self.text(item, "dockerfile", where),
                          self.integer(item, "line", where), self.text(item, "instruction", where),
                          written, stage)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def dockerfile_key(dockerfile: str, lock_dir: str) -> str:
    """How a lock in *lock_dir* names *dockerfile*: relative, with forward slashes."""
    relative = posixpath.normpath(posixpath.relpath(_posix(dockerfile), _posix(lock_dir)))
    return relative


def _posix(path: str) -> str:
    return path.replace("\\", "/")


def require_dockerfile(lock: Lock, expected: str, source: str) -> None:
    """A lock written for another Dockerfile is refused, never applied."""
    if posixpath.normpath(lock.dockerfile) != posixpath.normpath(expected):
        raise LockfileError(
            f"{source} locks the Dockerfile {lock.dockerfile!r}, not {expected!r}: give this "
            "Dockerfile's own lock with --lock-file, or write one with `trustbuild lock -o "
            "FILE`")


# -- a build against its lock ----------------------------------------------------------------

@dataclass(slots=True)
class LockedReport(CheckReport):
    """A check made against a lock (``--locked``).  ``unused``: entries the build no longer
    pulls; with ``gate`` (``check --locked``) each one fails the check."""

    lock_file: str = LOCK_FILE
    offline: bool = False  # confirmed against the local trust cache, no server asked
    unused: list[LockEntry] = field(default_factory=list)
    gate: bool = False
    locked: dict[str, str] = field(default_factory=dict)  # reference -> locked digest

    @property
    def exit_code_enforced(self) -> ExitCode:
        statuses: list[object] = [v.status for v in self.verdicts]
        if self.gate:
            statuses += [Status.REFUSED] * len(self.unused)
        return exit_code_for(statuses)


def apply_lock(report: CheckReport, lock: Lock, lock_file: str, *, offline: bool = False,
               gate: bool = False) -> LockedReport:
    """*report*'s verdicts held to *lock*: a trusted image must be locked, at the digest
    trust data signs now; an image the trust data refuses keeps that verdict; one the policy
    lets through unverified has no digest to lock."""
    verdicts = [_locked_verdict(v, lock.entry(str(v.pull.reference)), lock_file, offline)
                for v in report.verdicts]
    pulled = {str(v.pull.reference) for v in report.verdicts}
    unused = [e for e in lock.images if e.reference not in pulled]
    warnings = list(report.warnings)
    if not gate:
        warnings += [f"{lock_file} lists {e.reference}, which this build does not pull"
                     for e in unused]
    return LockedReport(report.dockerfile, report.text, report.reader, verdicts, warnings,
                        report.literal_bases, report.mode, lock_file=lock_file,
                        offline=offline, unused=unused, gate=gate,
                        locked={e.reference: e.digest for e in lock.images})


def _locked_verdict(verdict: ImageVerdict, entry: LockEntry | None, lock_file: str,
                    offline: bool) -> ImageVerdict:
    trusted, ref = verdict.trusted, verdict.pull.reference
    if trusted is None:
        return verdict
    if entry is None:
        return replace(verdict, status=Status.REFUSED, trusted=None, error=LockMismatch(
            f"{ref} is not in {lock_file}: run `trustbuild lock` to lock it",
            gun=trusted.gun, server=trusted.server, reason=Reason.NOT_LOCKED))
    if trusted.digest != entry.digest:
        return replace(verdict, status=Status.REFUSED, trusted=None, error=LockMismatch(
            f"{ref} moved: {lock_file} has {entry.digest}, but trust data now signs "
            f"{trusted.digest} ({trusted.role}); run `trustbuild lock` to accept the new "
            "digest", gun=trusted.gun, server=trusted.server))
    note = f"as locked in {lock_file}, confirmed against the local trust cache (offline)" \
        if offline else f"as locked in {lock_file}"
    return replace(verdict, trusted=replace(trusted, notes=(*trusted.notes, note)))


def unused_error(entry: LockEntry, lock_file: str) -> LockMismatch:
    return LockMismatch(f"{lock_file} lists {entry.reference}, which the Dockerfile no "
                        "longer pulls: run `trustbuild lock` to remove it",
                        reason=Reason.NOT_PULLED)

