"""Mutated metadata thrown at the verifier: whatever a server or a poisoned cache hands it,
only trustbuild's own errors come out (subclasses of ``TrustbuildError``), never a traceback.

Mutations are made inside ``signed`` before signing (so they pass the hash and signature
checks and reach the parsers), in the envelope after signing, and byte by byte in the served
or cached files.  Values include what Python's ``json`` cannot write itself: nesting deeper
than any stack, numbers beyond float64, non-ASCII digits in base64, lone surrogates,
out-of-range dates.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Client
from tests.inmemory import MemoryCache, MemoryFetcher
from tests.notarysim.keys import SimKey, canonical
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal.notary.inspection import report
from trustbuild._internal.notary.repository import TrustedRepository
from trustbuild._internal.notary.trustpin import make_pin
from trustbuild.errors import TrustbuildError, TrustError

REGISTRY = "reg.example:5000"
DIGEST = hashlib.sha256(b"fuzzed manifest").hexdigest()
ROLES = ("root", "timestamp", "snapshot", "targets", "targets/releases")
NOW = datetime.now(UTC)

# JSON text Python's json module will not write, spliced in where a sentinel string was.
RAW = {
    "@@deep@@": b"[" * 50_000 + b"]" * 50_000,
    "@@deep-object@@": b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
    "@@huge-int@@": b"1" + b"0" * 400,
    "@@many-digits@@": b"9" * 5_000,
    "@@float@@": b"1.5",
    "@@exp@@": b"1e400",
    "@@neg-zero@@": b"-0",
    "@@surrogate@@": b'"\\ud800"',
    "@@dup-keys@@": b'{"a":1,"A":2}',
}
DELETE = "@@delete@@"

NASTY = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=12),
    st.sampled_from([
        "", "\u0663\u0663\u0663\u0663", "\uff21\uff21==", "====", "ab\x00cd",
        "9999-12-31T23:59:59.999999999-23:59", "0001-01-01T00:00:00+23:59",
        "2030-02-30T00:00:00Z", "targets/releases", "targets/../root", "TARGETS/Releases",
        "rsa-x509", "ecdsa", "ed25519", "rsapss", "ecdsa-x509", "eddsa", "sha256",
        "-----BEGIN CERTIFICATE-----", DELETE, *RAW,
    ]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


class RawSimRepo(SimRepo):
    """A SimRepo that splices raw JSON text into what it signs."""

    def sign(self, role: str, signed: dict[str, Any], keys: list[SimKey]) -> bytes:
        if role in self.tamper:
            self.tamper[role](signed)
        message = canonical(signed)
        for sentinel, raw in RAW.items():
            message = message.replace(json.dumps(sentinel).encode(), raw)
        sigs = [k.signature(message) for k in self.signers.get(role, keys)]
        return b'{"signed":' + message + b',"signatures":' + canonical(sigs) + b"}"


@functools.cache
def base_repo(kind: int) -> RawSimRepo:
    """Repositories of two key-type mixes, built once (keys are slow to make)."""
    types = [("ecdsa-x509", "ecdsa", "ed25519", "ecdsa"),
             ("rsa-x509", "rsa", "ecdsa", "rsa-x509")][kind]
    r = RawSimRepo(f"{REGISTRY}/fuzz{kind}", root_type=types[0], targets_type=types[1],
                   snapshot_type=types[2], timestamp_type=types[2])
    r.delegate("targets/releases", keytype=types[3])
    r.sign_tag("1", DIGEST, role="targets/releases")
    r.sign_tag("1", DIGEST)
    r.sign_tag("2", DIGEST)
    return r


def _set(doc: Any, path: list[Any], value: Any) -> None:
    *parents, last = path
    for step in parents:
        doc = doc[step]
    if value == DELETE:
        del doc[last]
    else:
        doc[last] = value


def _path(doc: Any, choices: list[int]) -> list[Any]:
    """A path into *doc* picked by *choices* (drawn without looking at *doc*, so that
    hypothesis can replay them whatever the signatures and versions of this run are)."""
    path: list[Any] = []
    node = doc
    for choice in choices:
        if not isinstance(node, dict | list) or not node:
            break
        steps = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        step = steps[choice % len(steps)]
        path.append(step)
        node = node[step]
    return path


@dataclass(frozen=True)
class Mutation:
    """Where and how to damage one file; applied by :func:`mutated`."""

    path: list[int]  # choices for :func:`_path`
    value: Any  # a NASTY value, for "signed" and "envelope"
    byte_kind: str
    byte_at: int
    byte_xor: int
    byte_insert: bytes

    def tamper(self) -> Any:
        def change(signed: dict[str, Any]) -> None:
            path = _path(signed, self.path)
            if path:
                _set(signed, path, self.value)
        return change

    def envelope(self, data: bytes) -> bytes:
        doc = json.loads(data)
        path = _path(doc, self.path)
        if path:
            _set(doc, path, self.value)
        text = json.dumps(doc).encode()
        for sentinel, raw in RAW.items():
            text = text.replace(json.dumps(sentinel).encode(), raw)
        return text

    def bytes(self, data: bytes) -> bytes:
        if not data:
            return self.byte_insert
        at = self.byte_at % len(data)
        if self.byte_kind == "flip":
            return data[:at] + bytes([data[at] ^ self.byte_xor]) + data[at + 1:]
        if self.byte_kind == "cut":
            return data[:at]
        return data[:at] + self.byte_insert + data[at:]


MUTATIONS = st.builds(
    Mutation, path=st.lists(st.integers(0, 10_000), min_size=1, max_size=6), value=NASTY,
    byte_kind=st.sampled_from(["flip", "cut", "insert"]), byte_at=st.integers(0, 1 << 20),
    byte_xor=st.integers(1, 255), byte_insert=st.binary(min_size=1, max_size=8))


@dataclass(frozen=True)
class Scenario:
    kind: int  # which base repository
    warm: bool  # a cache from a clean update first
    role: str
    where: str  # signed (before signing), envelope, bytes (served), cache (poisoned)
    mutation: Mutation
    later: timedelta
    offline: bool
    grace: timedelta | None
    pinned: bool


SCENARIOS = st.builds(
    Scenario, kind=st.integers(0, 1), warm=st.booleans(), role=st.sampled_from(ROLES),
    where=st.sampled_from(["signed", "envelope", "bytes", "cache"]), mutation=MUTATIONS,
    later=st.sampled_from([timedelta(0)] * 4 + [timedelta(days=400), timedelta(days=-1)]),
    offline=st.booleans(), grace=st.sampled_from([None, timedelta(days=1), timedelta.max]),
    pinned=st.booleans())


def _names_of(role: str, files: dict[str, bytes]) -> list[str]:
    """The names *role*'s current file is served under (by name, by hash)."""
    current = files[f"{role}.json"]
    return [n for n, d in files.items() if d == current and n.startswith(f"{role}.")]


def exercise(repo: TrustedRepository) -> None:
    """Everything the client and the commands ask of an updated repository."""
    repo.update()
    for tag in ("1", "2", "absent"):
        with contextlib.suppress(TrustError):
            repo.lookup(tag)
    list(repo.accepted_targets())
    repo.signed_key_ids("targets/releases")
    repo.expires()
    report(repo, repo.gun)


def verifier_for(scenario: Scenario) -> TrustedRepository:
    r = base_repo(scenario.kind)
    r.tamper.clear()
    r.mark_root_changed()  # a clean root (the last example may have mutated it)
    r.publish()
    clean = dict(r.files)
    cache = MemoryCache()
    if scenario.warm:
        TrustedRepository(r.gun, MemoryFetcher(clean), cache, now=NOW, server="m").update()
    role, where, mutation = scenario.role, scenario.where, scenario.mutation
    if where == "signed":
        r.tamper[role] = mutation.tamper()
        if role == "root":
            r.mark_root_changed()
        r.publish()
        r.tamper.clear()
    served = dict(r.files)
    if where in ("envelope", "bytes"):
        data = served[f"{role}.json"]
        damaged = mutation.envelope(data) if where == "envelope" else mutation.bytes(data)
        for name in _names_of(role, served):
            served[name] = damaged
    if where == "cache":
        cached = cache.files.get(role, clean[f"{role}.json"])
        cache.files[role] = mutation.bytes(cached) if mutation.byte_xor % 2 else \
            mutation.envelope(cached)
    options: dict[str, Any] = {"now": NOW + scenario.later,
                               "offline": scenario.offline and scenario.warm}
    if scenario.grace is not None:
        options["grace"] = scenario.grace
    if scenario.pinned:
        options["pin"] = make_pin([r.keys["root"][0].keyid], [], [], "fuzz")
        options["allow_tofu"] = False
    return TrustedRepository(r.gun, MemoryFetcher(served), cache, server="m", **options)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCENARIOS)
def test_only_trustbuild_errors_come_out_of_the_verifier(scenario: Scenario) -> None:
    with contextlib.suppress(TrustbuildError):
        exercise(verifier_for(scenario))


_names = itertools.count()


@pytest.mark.parametrize("kind", [0, 1])
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_only_trustbuild_errors_come_out_of_the_client(sim: SimServer, client: Client,
                                                       kind: int, data: st.DataObject) -> None:
    """Through the simulator and the client: one repository's files mutated, another's left
    alone; the first gets a verdict, the second its digest."""
    bad = sim.add(RawSimRepo(f"{REGISTRY}/served{next(_names)}",
                             root_type=("ecdsa-x509", "rsa-x509")[kind]))
    good = sim.add(SimRepo(f"{REGISTRY}/fine{next(_names)}"))
    for r in (bad, good):
        r.sign_tag("1", DIGEST)
        r.publish()
    if data.draw(st.booleans()):
        client().resolve(f"{bad.gun}:1")  # a warm cache
    role = data.draw(st.sampled_from(ROLES[:4]))
    mutation = data.draw(MUTATIONS)
    bad.tamper[role] = mutation.tamper()
    if role == "root":
        bad.mark_root_changed()
    bad.publish()
    if data.draw(st.booleans()):
        names = sorted(bad.files)
        name = names[data.draw(st.integers(0, 1000)) % len(names)]
        bad.files[name] = mutation.bytes(bad.files[name])
    results = client().resolve_many([f"{bad.gun}:1", f"{good.gun}:1"])
    answer = results[f"{good.gun}:1"]
    assert not isinstance(answer, TrustError), answer
    assert answer.digest == f"sha256:{DIGEST}"
