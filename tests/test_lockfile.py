"""The lock file's pure logic: reading it strictly, writing it stably, re-locking, and holding
a check to it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.schemas import validate_lock
from trustbuild._internal.dockerfile import ImagePull
from trustbuild._internal.dockerfile.readers import ReaderChoice, reader_named
from trustbuild._internal.lockfile import (
    Lock,
    LockedPull,
    LockEntry,
    apply_lock,
    dockerfile_key,
    dumps,
    lock_document,
    parse,
    relock,
)
from trustbuild._internal.notary.client import TrustedDigest
from trustbuild._internal.plan import CheckReport, ImageVerdict, Status
from trustbuild._internal.reference import parse_normalized
from trustbuild.errors import ExitCode, LockfileError, NoTrustData, Reason

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
KEY = "c" * 64
EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def entry(ref: str, digest: str = A, role: str = "targets", keys: tuple[str, ...] = (KEY,),
          line: int = 1) -> LockEntry:
    return LockEntry(ref, digest, 527, role, keys, "notary.example:4443", 3, EXPIRES,
                     (LockedPull("Dockerfile", line, "FROM", ref, None),))


def lock(*entries: LockEntry) -> Lock:
    return Lock("Dockerfile", tuple(sorted(entries, key=lambda e: e.reference)))


def test_written_and_read_back_unchanged() -> None:
    original = lock(entry("docker.io/library/alpine:3"),
                    entry("reg.example/base:1", B, "targets/releases", line=4))
    text = dumps(original)
    validate_lock(json.loads(text))
    assert parse(text.encode(), "x") == original
    assert text == dumps(parse(text.encode(), "x"))  # byte for byte
    assert text.endswith("}\n") and '\n  "images": [\n' in text
    assert list(lock_document(original)["images"][0]) == [
        "reference", "digest", "size", "role", "key_ids", "server", "metadata_version",
        "metadata_expires", "pulls"]
    assert '"metadata_expires": "2030-01-02T03:04:05Z"' in text


def good_document() -> dict[str, object]:
    return lock_document(lock(entry("reg.example/base:1")))


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.update(extra=1), "unknown key 'extra'"),
    (lambda d: d.pop("images"), "missing key 'images'"),
    (lambda d: d.update(schema_version="1"), "schema_version '1'"),
    (lambda d: d.update(images={}), "images must be a list"),
    (lambda d: d["images"][0].update(digest="sha256:" + "A" * 64), "images[0].digest"),
    (lambda d: d["images"][0].update(digest="md5:abc"), "is not 'sha256:' and 64"),
    (lambda d: d["images"][0].update(reference="Base:1"), "images[0].reference"),
    (lambda d: d["images"][0].update(reference="reg.example/base"), "with a tag"),
    (lambda d: d["images"][0].update(reference="base:1"), "not a normalized"),
    (lambda d: d["images"][0].update(size=-1), "images[0].size"),
    (lambda d: d["images"][0].update(size=True), "images[0].size"),
    (lambda d: d["images"][0].update(key_ids=["xyz"]), "images[0].key_ids"),
    (lambda d: d["images"][0].update(metadata_expires="tomorrow"), "not a UTC time"),
    (lambda d: d["images"][0].update(pulls=[]), "non-empty list"),
    (lambda d: d["images"][0]["pulls"][0].update(line="1"), "pulls[0].line"),
    (lambda d: d["images"][0]["pulls"][0].update(dockerfile="a/Dockerfile"),
     "is for Dockerfile 'a/Dockerfile'"),
    (lambda d: d["images"].append(d["images"][0]), "listed twice"),
    (lambda d: d.update(images=[1]), "images[0]: must be a JSON object"),
])
def test_bad_locks(change: object, words: str) -> None:
    document = good_document()
    assert callable(change)
    change(document)
    with pytest.raises(LockfileError, match=r"^my\.lock: ") as caught:
        parse(json.dumps(document).encode(), "my.lock")
    assert words in str(caught.value)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[]", b"null", b'{"a": '])
def test_not_a_lock(data: bytes) -> None:
    with pytest.raises(LockfileError, match=r"my\.lock"):
        parse(data, "my.lock")


def test_relock_keeps_unchanged_evidence_and_names_each_change() -> None:
    old = lock(entry("reg.example/same:1"), entry("reg.example/moved:1"),
               entry("reg.example/keys:1"), entry("reg.example/gone:1"))
    fresh = lock(replace(entry("reg.example/same:1", line=9), metadata_version=7),
                 entry("reg.example/moved:1", B),
                 entry("reg.example/keys:1", keys=("d" * 64,)),
                 entry("reg.example/new:1"))
    merged, changes = relock(old, fresh)
    kinds = {c.reference: c.kind for c in changes}
    assert kinds == {"reg.example/moved:1": "updated", "reg.example/keys:1": "re-signed",
                     "reg.example/gone:1": "removed", "reg.example/new:1": "added"}
    same = merged.entry("reg.example/same:1")
    assert same is not None and same.metadata_version == 3  # the evidence it was locked with
    assert same.pulls[0].line == 9  # where it is pulled now
    assert [e.reference for e in merged.images] == sorted(e.reference for e in merged.images)
    assert relock(merged, fresh)[1] == []


def test_dockerfile_key() -> None:
    assert dockerfile_key("/r/svc/Dockerfile", "/r/svc") == "Dockerfile"
    assert dockerfile_key("/r/svc/app.Dockerfile", "/r") == "svc/app.Dockerfile"
    assert dockerfile_key("/r/svc/Dockerfile", "/r/locks") == "../svc/Dockerfile"


def pull(ref: str, line: int = 1) -> ImagePull:
    return ImagePull(parse_normalized(ref), ref, ref, "FROM", "0", 0, None, line, 1, None,
                     False)


def trusted(ref: str, digest: str) -> TrustedDigest:
    parsed = parse_normalized(ref)
    return TrustedDigest(parsed, parsed.name, parsed.tag or "", digest, 527, "targets",
                         EXPIRES, "notary.example:4443")


def report(*verdicts: ImageVerdict) -> CheckReport:
    return CheckReport("Dockerfile", "", ReaderChoice(reader_named("buildkit"), "test"),
                       list(verdicts))


def test_apply_lock() -> None:
    locked = lock(entry("reg.example/a:1"), entry("reg.example/b:1"),
                  entry("reg.example/old:1"))
    allowed = ImageVerdict(pull("reg.example/vendor:1"), Status.ALLOWED,
                           error=NoTrustData("No trust data for 1"), exception="vendor")
    refused = ImageVerdict(pull("reg.example/bad:1"), Status.REFUSED,
                           error=NoTrustData("No trust data for 1"))
    checked = report(
        ImageVerdict(pull("reg.example/a:1"), Status.TRUSTED, trusted("reg.example/a:1", A)),
        ImageVerdict(pull("reg.example/b:1"), Status.TRUSTED, trusted("reg.example/b:1", B)),
        ImageVerdict(pull("reg.example/c:1"), Status.TRUSTED, trusted("reg.example/c:1", A)),
        allowed, refused)
    gate = apply_lock(checked, locked, "the.lock", gate=True)
    a, b, c, vendor, bad = gate.verdicts
    assert a.status is Status.TRUSTED and a.trusted is not None
    assert "as locked in the.lock" in a.trusted.notes
    assert b.status is Status.REFUSED and b.reason is Reason.LOCK_MISMATCH
    assert A in str(b.message) and B in str(b.message)
    assert c.status is Status.REFUSED and c.reason is Reason.NOT_LOCKED
    assert vendor is allowed and bad is refused  # trust's own verdicts stand
    assert [e.reference for e in gate.unused] == ["reg.example/old:1"]
    assert gate.exit_code is ExitCode.UNTRUSTED
    # only the unused entry: the gate fails, a build does not (it warns)
    only_unused = report(ImageVerdict(pull("reg.example/a:1"), Status.TRUSTED,
                                      trusted("reg.example/a:1", A)))
    assert apply_lock(only_unused, locked, "the.lock", gate=True).exit_code is \
        ExitCode.UNTRUSTED
    build = apply_lock(only_unused, locked, "the.lock", gate=False)
    assert build.exit_code is ExitCode.OK
    assert any("reg.example/old:1" in w for w in build.warnings)


