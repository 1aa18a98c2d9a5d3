"""Facts established once and reused: what a key is, and which signatures checked out.

Reading a key or certificate and checking a signature need ``cryptography`` (about 35 ms to
import) and the canonical re-encoding of each file's signed part.  Both results depend only on
bytes, so they are kept: in the process, and for later runs in one small file per repository
next to its cached metadata, ``tuf/<gun>/.trustbuild-facts``.

A signature fact names (key type, key, method, SHA-256 of the whole metadata file, signature):
the signed bytes are a function of the file, so the same file and signature is the same check.
Only successes are kept.  Everything else (hashes, versions, thresholds, expiry, the root's
certificate dates, pins) is checked on every run.

The file carries an HMAC under a per-user secret kept outside the trust cache
(``$XDG_STATE_HOME/trustbuild/facts.key``, mode 0600).  A trust cache copied from elsewhere (a
CI cache restored from another branch, say) brings no facts that count: a file whose HMAC does
not check out is ignored, and every signature in that repository is checked again.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from trustbuild._internal.notary.cache import atomic_write, read_file

FILE_NAME = ".trustbuild-facts"
SECRET_BYTES = 32
MAX_REMEMBERED = 16384
MAX_FILE_SIZE = 4 * 1024 * 1024
FORMAT = 1


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """A root certificate key as notary's root checks see it, but for the clock."""

    common_name: str
    bundle_problem: str | None  # not exactly one non-CA certificate, first
    signature_problem: str | None  # SHA-1, a short RSA key, an empty validity period
    not_before: datetime
    not_after: datetime
    reencoded_b64: str  # the chain as Go writes PEM (notary recomputes key IDs from it)


@dataclass(frozen=True, slots=True)
class KeyFacts:
    spki_b64: str  # the public key itself: two keys over one public key count once
    certificate: CertificateFacts | None


_keys: dict[str, KeyFacts] = {}
_signatures: dict[str, None] = {}  # ordered, so the oldest go first
_learned = [0]  # how many facts this process has established itself
_lock = threading.Lock()


def key_fingerprint(keytype: str, public_b64: str) -> str:
    return hashlib.sha256(f"{keytype}\0{public_b64}".encode()).hexdigest()


def signature_fact(keytype: str, public_b64: str, method: str, file_sha256: bytes,
                   signature: bytes) -> str:
    digest = hashlib.sha256(f"{keytype}\0{public_b64}\0{method}\0".encode())
    digest.update(file_sha256)
    digest.update(signature)
    return digest.hexdigest()


def known_key(fingerprint: str) -> KeyFacts | None:
    return _keys.get(fingerprint)


def remember_key(fingerprint: str, facts: KeyFacts) -> None:
    with _lock:
        _bounded(_keys)
        _keys[fingerprint] = facts
        _learned[0] += 1


def signature_known(fact: str) -> bool:
    return fact in _signatures


def remember_signature(fact: str) -> None:
    with _lock:
        _bounded(_signatures)
        _signatures[fact] = None
        _learned[0] += 1


def forget_all() -> None:
    """For tests: as a new process."""
    with _lock:
        _keys.clear()
        _signatures.clear()


def _bounded(memo: dict[str, Any]) -> None:
    while len(memo) >= MAX_REMEMBERED:
        memo.pop(next(iter(memo)))


# -- the file of one repository ---------------------------------------------------------------

class FactsFile:
    """Facts about one repository's cached metadata, authenticated with the user's secret.
    Without a secret (no writable state directory) nothing is read or written."""

    def __init__(self, repo_dir: Path, secret: bytes | None) -> None:
        self.path = os.path.join(repo_dir, FILE_NAME)
        self._secret = secret
        self._loaded = b""
        self._learned_at_load = -1

    def load(self) -> None:
        """Add the file's facts to the process's, if its HMAC checks out."""
        if self._secret is None:
            return
        try:
            data = read_file(self.path, MAX_FILE_SIZE + 1)
        except OSError:
            return
        mac, _, body = data.partition(b"\n")
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest().encode()
        if len(data) > MAX_FILE_SIZE or not hmac.compare_digest(mac, expected):
            return
        try:
            keys, signatures = _decode(json.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        with _lock:
            _keys.update(keys)
            _signatures.update(dict.fromkeys(signatures))
            self._learned_at_load = _learned[0]
        self._loaded = body

    def outdated(self) -> bool:
        """Whether :meth:`save` may have something to write: the file was missing or not
        accepted, or this process has established facts since it was read."""
        return self._secret is not None and self._learned_at_load != _learned[0]

    def save(self, keys: Iterable[tuple[str, str]], signatures: Iterable[str]) -> None:
        """Keep the facts about *keys* (type, base64) and *signatures* that this process
        knows; written only when they differ from the file's."""
        if self._secret is None:
            return
        body = json.dumps(_encode(keys, signatures), sort_keys=True,
                          separators=(",", ":")).encode()
        if body == self._loaded:
            return
        mac = hmac.new(self._secret, body, hashlib.sha256).hexdigest().encode()
        with contextlib.suppress(OSError):  # facts only save time; losing them is harmless
            atomic_write(self.path, mac + b"\n" + body, mode=0o600)
        self._loaded = body


def _encode(keys: Iterable[tuple[str, str]], signatures: Iterable[str]) -> dict[str, Any]:
    out_keys: dict[str, Any] = {}
    pending = list(keys)
    while pending:
        keytype, public_b64 = pending.pop()
        fingerprint = key_fingerprint(keytype, public_b64)
        facts = _keys.get(fingerprint)
        if facts is None or fingerprint in out_keys:
            continue
        cert = facts.certificate
        out_keys[fingerprint] = {"spki": facts.spki_b64, "certificate": None if cert is None
                                 else {"cn": cert.common_name, "bundle": cert.bundle_problem,
                                       "signature": cert.signature_problem,
                                       "not_before": cert.not_before.isoformat(),
                                       "not_after": cert.not_after.isoformat(),
                                       "pem": cert.reencoded_b64}}
        if cert is not None and cert.reencoded_b64 != public_b64:
            pending.append((keytype, cert.reencoded_b64))
    known = sorted(s for s in set(signatures) if s in _signatures)
    return {"format": FORMAT, "keys": out_keys, "signatures": known}


def _decode(doc: Mapping[str, Any]) -> tuple[dict[str, KeyFacts], list[str]]:
    if doc["format"] != FORMAT:
        raise ValueError("another format")
    keys = {}
    for fingerprint, entry in doc["keys"].items():
        cert = entry["certificate"]
        keys[str(fingerprint)] = KeyFacts(str(entry["spki"]), None if cert is None else
                                          CertificateFacts(
                                              str(cert["cn"]), cert["bundle"],
                                              cert["signature"],
                                              datetime.fromisoformat(cert["not_before"]),
                                              datetime.fromisoformat(cert["not_after"]),
                                              str(cert["pem"])))
    return keys, [str(s) for s in doc["signatures"]]


# -- the secret ---------------------------------------------------------------------------------

_secrets: dict[str, bytes | None] = {}


def user_secret(env: Mapping[str, str]) -> bytes | None:
    """The per-user key for facts files, made on first use; None when it cannot be kept.
    ``$XDG_STATE_HOME`` of *env*, else of this process, else ``~/.local/state``."""
    state = env.get("XDG_STATE_HOME") or os.environ.get("XDG_STATE_HOME")
    if not state:
        try:
            home = env.get("HOME") or str(Path.home())
        except (RuntimeError, KeyError):  # no HOME and no passwd entry (an arbitrary UID)
            return None
        state = os.path.join(home, ".local", "state")
    path = os.path.join(state, "trustbuild", "facts.key")
    with _lock:
        if path not in _secrets:
            _secrets[path] = _read_or_make_secret(path)
        return _secrets[path]


def _read_or_make_secret(path: str) -> bytes | None:
    for _ in range(2):
        try:
            secret = read_file(path)
            return secret if len(secret) == SECRET_BYTES else None
        except FileNotFoundError:
            pass
        except OSError:
            return None
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process made it meanwhile: read theirs
        except OSError:
            return None
        secret = os.urandom(SECRET_BYTES)
        with os.fdopen(fd, "wb") as out:
            out.write(secret)
        return secret
    return None
