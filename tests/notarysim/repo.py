"""A Notary repository built in Python: keys, roles, delegations, and every file notary-server
would serve for it (``<role>.json``, ``<role>.<sha256>.json``, ``<version>.root.json``).

Tests change the repository (sign tags, rotate keys, expire roles, tamper with files) and call
:meth:`SimRepo.publish`, as a notary client publishing to a server would.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.notarysim.keys import SimKey, canonical, make_key

Tamper = Callable[[dict[str, Any]], None]


def go_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def file_meta(data: bytes) -> dict[str, Any]:
    return {"hashes": {"sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                       "sha512": base64.b64encode(hashlib.sha512(data).digest()).decode()},
            "length": len(data)}


def target_meta(digest_hex: str, size: int) -> dict[str, Any]:
    return {"hashes": {"sha256": base64.b64encode(bytes.fromhex(digest_hex)).decode()},
            "length": size}


@dataclass
class Delegation:
    name: str
    keys: list[SimKey]
    threshold: int = 1
    paths: list[str] = field(default_factory=lambda: [""])
    targets: dict[str, tuple[str, int]] = field(default_factory=dict)
    listed_keyids: list[str] | None = None  # override what the parent lists (None: keys')


@dataclass
class SimRepo:
    gun: str
    root_type: str = "ecdsa-x509"
    targets_type: str = "ecdsa"
    snapshot_type: str = "ed25519"
    timestamp_type: str = "ed25519"
    lifetime: timedelta = timedelta(days=365)

    def __post_init__(self) -> None:
        self.keys: dict[str, list[SimKey]] = {
            "root": [make_key(self.root_type, common_name=self.gun)],
            "targets": [make_key(self.targets_type)],
            "snapshot": [make_key(self.snapshot_type)],
            "timestamp": [make_key(self.timestamp_type)],
        }
        self.thresholds = {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 1}
        self.targets: dict[str, tuple[str, int]] = {}
        self.delegations: dict[str, Delegation] = {}
        self.versions = {"root": 0, "targets": 0, "snapshot": 0, "timestamp": 0}
        self.expires: dict[str, datetime] = {}
        self.files: dict[str, bytes] = {}
        self.roots: list[bytes] = []
        self.root_signers: list[SimKey] | None = None  # override who signs the next root
        self.tamper: dict[str, Tamper] = {}  # role -> change to "signed" before signing
        self.signers: dict[str, list[SimKey]] = {}  # role -> keys that sign instead
        self._root_dirty = True

    # -- changes -------------------------------------------------------------------------------

    def sign_tag(self, tag: str, digest_hex: str, size: int = 527,
                 role: str = "targets") -> None:
        if role == "targets":
            self.targets[tag] = (digest_hex, size)
        else:
            self.delegations[role].targets[tag] = (digest_hex, size)

    def delegate(self, name: str, keytype: str = "rsa-x509", **kw: Any) -> Delegation:
        delegation = Delegation(name, [make_key(keytype, common_name=name.rsplit("/")[-1])],
                                **kw)
        self.delegations[name] = delegation
        return delegation

    def rotate_root(self, keytype: str | None = None, *, signed_by_old: bool = True) -> None:
        old = self.keys["root"]
        self.keys["root"] = [make_key(keytype or self.root_type, common_name=self.gun)]
        self.root_signers = (old + self.keys["root"]) if signed_by_old else None
        self._root_dirty = True

    def replace_root_key(self, key: SimKey) -> None:
        self.keys["root"] = [key]
        self._root_dirty = True

    def mark_root_changed(self) -> None:
        self._root_dirty = True

    # -- publishing ----------------------------------------------------------------------------

    def expiry(self, role: str) -> datetime:
        return self.expires.get(role, datetime.now(UTC) + self.lifetime)

    def sign(self, role: str, signed: dict[str, Any], keys: list[SimKey]) -> bytes:
        if role in self.tamper:
            self.tamper[role](signed)
        message = canonical(signed)
        signers = self.signers.get(role, keys)
        sigs = [k.signature(message) for k in signers]
        return (b'{"signed":' + message + b',"signatures":' + canonical(sigs) + b"}")

    def _root(self) -> bytes:
        self.versions["root"] += 1
        keys = {k.keyid: k.to_json() for role_keys in self.keys.values() for k in role_keys}
        signed = {
            "_type": "Root", "consistent_snapshot": False,
            "expires": go_time(self.expiry("root")), "keys": keys,
            "roles": {role: {"keyids": [k.keyid for k in self.keys[role]],
                             "threshold": self.thresholds[role]} for role in self.keys},
            "version": self.versions["root"],
        }
        signers = self.root_signers or self.keys["root"]
        self.root_signers = None
        return self.sign("root", signed, signers)

    def _targets_doc(self, role: str, version: int, targets: dict[str, tuple[str, int]],
                     keys: list[SimKey]) -> bytes:
        children = [d for d in self.delegations.values()
                    if d.name.rsplit("/", 1)[0] == role]
        delegations = {
            "keys": {k.keyid: k.to_json() for d in children for k in d.keys},
            "roles": [{"keyids": d.listed_keyids if d.listed_keyids is not None
                       else [k.keyid for k in d.keys], "name": d.name, "paths": d.paths,
                       "threshold": d.threshold} for d in children],
        }
        signed = {"_type": "Targets", "delegations": delegations,
                  "expires": go_time(self.expiry(role)),
                  "targets": {t: target_meta(*v) for t, v in targets.items()},
                  "version": version}
        return self.sign(role, signed, keys)

    def publish(self) -> None:
        if self._root_dirty:
            root = self._root()
            self.roots.append(root)
            self._root_dirty = False
        root = self.roots[-1]
        self.versions["targets"] += 1
        version = self.versions["targets"]
        files = {"root": root,
                 "targets": self._targets_doc("targets", version, self.targets,
                                              self.keys["targets"])}
        for name, d in self.delegations.items():
            files[name] = self._targets_doc(name, version, d.targets, d.keys)
        self.versions["snapshot"] += 1
        snapshot = self.sign("snapshot", {
            "_type": "Snapshot", "expires": go_time(self.expiry("snapshot")),
            "meta": {name: file_meta(data) for name, data in files.items()},
            "version": self.versions["snapshot"]}, self.keys["snapshot"])
        self.versions["timestamp"] += 1
        timestamp = self.sign("timestamp", {
            "_type": "Timestamp", "expires": go_time(self.expiry("timestamp")),
            "meta": {"snapshot": file_meta(snapshot)},
            "version": self.versions["timestamp"]}, self.keys["timestamp"])
        files["snapshot"] = snapshot
        served: dict[str, bytes] = {}
        for i, data in enumerate(self.roots, start=1):
            served[f"{i}.root.json"] = data
            served[f"root.{hashlib.sha256(data).hexdigest()}.json"] = data
        for name, data in files.items():
            served[f"{name}.json"] = data
            served[f"{name}.{hashlib.sha256(data).hexdigest()}.json"] = data
        served["timestamp.json"] = timestamp
        self.files = served
