"""The library's trust client: image reference → signed digest.

Thread-safe.  Each repository's metadata is fetched and verified once per client (per process
if you share one), each server host gets one pooled connection set, and independent
repositories resolve concurrently in :meth:`TrustClient.resolve_many`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from trustbuild._internal.dockerconfig import config_dir, default_trust_server, trust_dir
from trustbuild._internal.notary.cache import MetadataCache, ReadOnlyCache
from trustbuild._internal.notary.credentials import registry_credentials
from trustbuild._internal.notary.facts import FactsFile, user_secret
from trustbuild._internal.notary.prefetch import (
    MAX_AHEAD_SIZE,
    REPOSITORIES_PER_BATCH,
    FetchedAhead,
    fetched_ahead,
    first_read_paths,
)
from trustbuild._internal.notary.repository import SignedTarget, TrustedRepository
from trustbuild._internal.notary.roots import RootPin
from trustbuild._internal.notary.transport import Transport, TransportConfig
from trustbuild._internal.reference import ImageReference, parse_normalized
from trustbuild.errors import InvalidReferenceError, NoTrustData, PolicyRefusal, TrustError

if TYPE_CHECKING:
    from trustbuild._internal.notary.inspection import RepositoryReport
    from trustbuild._internal.policy import Policy, RepositoryRule

# How long one verified load of a repository answers, as notary-server's own
# Cache-Control max-age for current metadata (300 s).
DEFAULT_MAX_AGE = timedelta(minutes=5)
# resolve_many uses all its threads only when a request waits at least this long for its
# answer (round trips to hide); below it, threads mostly add TLS handshakes and contention.
FAN_OUT_WAIT = 0.002


@dataclass(frozen=True, slots=True)
class TrustedDigest:
    """A reference resolved through trust data."""

    reference: ImageReference  # as asked, normalized
    gun: str
    tag: str
    digest: str
    size: int
    role: str  # targets/releases or targets
    expires: datetime  # earliest expiry of the metadata this answer rests on
    server: str
    offline: bool = False  # answered from the local cache alone (offline mode)
    notes: tuple[str, ...] = ()  # what else the answer rests on (grace periods, policy)
    # The signing role's metadata (targets/releases.json or targets.json): the IDs of the
    # keys whose signatures on it verify, its version and its expiry.
    key_ids: tuple[str, ...] = ()
    role_version: int = 0
    role_expires: datetime | None = None

    @property
    def pinned(self) -> ImageReference:
        return ImageReference(self.reference.domain, self.reference.path, self.tag,
                              self.digest)


@dataclass(slots=True)
class TrustClient:
    """Resolve references through Docker Content Trust.

    ``offline``: use only cached metadata, and only while none of it has expired.
    ``server_for``: the trust server per reference (default: docker's rule).
    ``pin``/``allow_tofu``: root trust decisions of the policy layer.
    ``policy``: a :class:`trustbuild._internal.policy.Policy`, which sets all of the above per
    repository and adds required signers.
    ``max_age``: how long one verified load of a repository answers before the timestamp is
    fetched again (never past the expiry of the data); a long-lived client stays fresh."""

    docker_config: Path = field(default_factory=config_dir)
    server_for: Callable[[ImageReference], str] | None = None
    offline: bool = False
    pin_for: Callable[[str], RootPin | None] = field(default=lambda gun: None)
    allow_tofu: bool = True
    transport: Transport | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    policy: Policy | None = None
    grace: timedelta = timedelta(0)
    max_age: timedelta = DEFAULT_MAX_AGE
    _repos: dict[tuple[str, str], tuple[datetime, TrustedRepository | TrustError]] = field(
        default_factory=dict, init=False)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict, init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)
    _ahead: dict[tuple[str, str], FetchedAhead] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.policy is not None:
            self.offline = self.offline or bool(self.policy.offline.value)
            self.allow_tofu = self.allow_tofu and bool(self.policy.tofu.value)
            self.grace = self.policy.grace.value
            self.pin_for = self._policy_pin
        if self.transport is None:
            config = self.docker_config
            self.transport = Transport(
                TransportConfig(docker_config=config),
                credentials=lambda registry: registry_credentials(registry, config))

    def server(self, ref: ImageReference) -> str:
        if self.server_for is not None:
            return self.server_for(ref)
        if self.policy is not None:
            choice = self.policy.server_for(ref, self.env)
            if choice.ca or choice.client_cert:
                assert self.transport is not None
                host = urllib.parse.urlsplit(choice.url).netloc
                self.transport.tls_files[host] = (choice.ca, choice.client_cert,
                                                  choice.client_key)
            return choice.url
        return default_trust_server(ref, self.env)

    def _policy_pin(self, gun: str) -> RootPin | None:
        assert self.policy is not None
        rule = self.policy.repository_rule(gun)
        if rule is None or not rule.pins_root:
            return None
        from trustbuild._internal.notary.trustpin import make_pin

        return make_pin(rule.root_keys, rule.root_certs, rule.root_cas, rule.source)

    def repository(self, ref: ImageReference) -> TrustedRepository:
        """The verified trust data of *ref*'s repository.  One load serves every reference
        to that repository for ``max_age`` (an error too, so one failing repository is not
        asked again for each of its references), and never past the expiry of the data it
        rests on; then the timestamp is fetched and checked again."""
        server = self.server(ref)
        key = (server, ref.name)
        with self._lock_for(server, ref.name):
            now = self.clock()
            entry = self._repos.get(key)
            if entry is None or self._stale(entry, now):
                try:
                    known: TrustedRepository | TrustError = self._load(ref, server)
                except TrustError as exc:
                    known = exc
                entry = self._repos[key] = (now, known)
        known = entry[1]
        if isinstance(known, TrustError):
            raise known
        return known

    def _stale(self, entry: tuple[datetime, TrustedRepository | TrustError],
               now: datetime) -> bool:
        loaded_at, known = entry
        if now - loaded_at > self.max_age:
            return True
        return isinstance(known, TrustedRepository) and now > known.expires()

    def _load(self, ref: ImageReference, server: str) -> TrustedRepository:
        with self._guard:
            ahead = self._ahead.pop((server, ref.name), None)
        try:
            return self._update(ref, server, ahead)
        except TrustError:
            if ahead is None or not ahead.served:
                raise
        # A batch answer that was not what it seemed (a proxy that loses track of pipelined
        # requests, say) would fail the update; trust data fetched the usual way decides.
        return self._update(ref, server, None)

    def _update(self, ref: ImageReference, server: str,
                ahead: FetchedAhead | None) -> TrustedRepository:
        gun = ref.name
        cache_cls = ReadOnlyCache if self.offline else MetadataCache
        cache = cache_cls(trust_dir(self.docker_config), gun)
        assert self.transport is not None
        transport = self.transport
        base = f"{server}/v2/{gun}/_trust/tuf/"

        class _Fetcher:
            def fetch(self, name: str, max_length: int) -> bytes:
                if ahead is not None:
                    data = ahead.take(name, max_length)
                    if data is not None:
                        return data
                return transport.get(base + name, max_length=max_length,
                                     scope=f"repository:{gun}:pull", registry=ref.domain)

        repo = TrustedRepository(gun, _Fetcher(), cache, now=self.clock(),
                                 server=urllib.parse.urlsplit(server).netloc,
                                 offline=self.offline, pin=self.pin_for(gun),
                                 allow_tofu=self.allow_tofu, grace=self.grace)
        known = FactsFile(cache.repo_dir, None if self.offline else user_secret(self.env))
        with cache.locked():
            known.load()
            repo.update()
            if known.outdated():
                keys, signatures = repo.keys_and_signatures()
                known.save(((k.keytype, k.public_b64) for k in keys), signatures)
        return repo

    def resolve(self, reference: str | ImageReference) -> TrustedDigest:
        """The digest signed for *reference*'s tag (``latest`` when it has none).

        A reference with a digest is accepted only if that digest is signed: for its tag when
        it has one, else for any tag."""
        ref = _as_reference(reference)
        tag = ref.tag or (ref.digest if ref.digest else "latest")
        try:
            repo = self.repository(ref)
        except NoTrustData as exc:
            raise NoTrustData(f"No trust data for {tag}: {exc.message}", gun=exc.gun,
                              server=exc.server) from None
        server = repo.server
        target = repo.lookup(tag) if ref.digest is None else self._signed_digest(repo, ref)
        notes = list(repo.notes)
        if self.policy is not None:
            rule = self.policy.repository_rule(repo.gun)
            if rule is not None and rule.signers:
                with self._lock_for(self.server(ref), ref.name):
                    _require_signers(repo, target, rule)
                notes.append(f"signed by {', '.join(rule.signers)} as {rule.source} requires")
        if self.offline:
            notes.append("answered offline from the local trust cache")
        with self._lock_for(self.server(ref), ref.name):
            key_ids, version, expires = _signing_evidence(repo, target.role)
        return TrustedDigest(ref, repo.gun, target.tag, target.digest, target.size,
                             target.role, repo.expires(), server, self.offline, tuple(notes),
                             key_ids, version, expires)

    @staticmethod
    def _signed_digest(repo: TrustedRepository, ref: ImageReference) -> SignedTarget:
        if ref.tag is not None:
            target = repo.lookup(ref.tag)
            if target.digest != ref.digest:
                raise NoTrustData(f"No trust data for {ref.tag} at {ref.digest}: the digest "
                                  f"signed for {ref.tag} is {target.digest}",
                                  gun=repo.gun, server=repo.server)
            return target
        for target in repo.accepted_targets():
            if target.digest == ref.digest:
                return target
        raise NoTrustData(f"No trust data for {ref.digest}: no signed tag has this digest",
                          gun=repo.gun, server=repo.server)

    def inspect(self, reference: str | ImageReference) -> RepositoryReport:
        """Every signed tag of the repository, like ``docker trust inspect``; a tag in
        *reference* narrows the report to that tag."""
        from trustbuild._internal.notary.inspection import report

        ref = _as_reference(reference)
        repo = self.repository(ref)
        with self._lock_for(self.server(ref), ref.name):
            result = report(repo, ref.name)
        if ref.tag is not None:
            result.signatures = [s for s in result.signatures if s.tag == ref.tag]
            result.accepted = {t: s for t, s in result.accepted.items() if t == ref.tag}
        return result

    def _lock_for(self, server: str, gun: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((server, gun), threading.Lock())

    def resolve_many(self, references: Iterable[str | ImageReference], *,
                     max_workers: int = 8) -> dict[str, TrustedDigest | TrustError]:
        """Resolve several references; each answer is a result or the error for that reference.

        For repositories the trust dir has nothing of, the files of their first update are
        requested first, in one batch per server, and ``cryptography`` loads while the server
        answers.  Then the first reference is resolved alone.  If its requests waited long for
        their answers, the rest are resolved on up to *max_workers* threads, so that the round
        trips overlap.  From a server that answers at once, a warm cache (one request each) is
        resolved on one thread and one connection, faster than paying for more TLS handshakes
        and thread hand-offs, and a first use (files fetched ahead, or several requests, and
        disk writes each) on about a thread per core."""
        parsed = {str(ref): ref for ref in map(_as_reference, references)}
        refs = list(parsed)

        def one(text: str) -> TrustedDigest | TrustError:
            try:
                return self.resolve(text)
            except TrustError as exc:
                return exc

        assert self.transport is not None
        fetched = self._fetch_ahead(list(parsed.values()))
        try:
            before = self.transport.requests
            answers = {ref: one(ref) for ref in refs[:1]}
            made, wait = self.transport.requests - before, self.transport.mean_wait() or 0.0
            if wait >= FAN_OUT_WAIT:
                workers = max_workers  # round trips to hide
            elif made > 1 or fetched:
                # Several files and writes each, from a server next door: about a thread per
                # core overlaps its and the disk's time with ours; more only contend.
                workers = min(max_workers, os.cpu_count() or 1)
            else:
                workers = 1
            answers.update(zip(refs[1:], _concurrently(one, refs[1:], workers), strict=True))
            return answers
        finally:
            with self._guard:
                for key in fetched:
                    self._ahead.pop(key, None)  # what the updates did not take

    def _fetch_ahead(self, refs: list[ImageReference]) -> list[tuple[str, str]]:
        """For the repositories this client has not loaded and the trust dir has nothing of:
        request the files their first update reads, all at once per server, load
        ``cryptography`` (their signatures need it) while the servers answer, then keep the
        answers for :meth:`_load` (see ``prefetch``).  Which repositories, by (server, GUN)."""
        assert self.transport is not None
        batches = []
        for hostport, found in self._first_loads(refs).items():
            items = list(found.items())
            for start in range(0, len(items), REPOSITORIES_PER_BATCH):
                bases = dict(items[start:start + REPOSITORIES_PER_BATCH])
                requests = [(path, f"repository:{gun}:pull") for (_, gun), base
                            in bases.items() for path in first_read_paths(base)]
                batches.append((bases, self.transport.send_batch(
                    hostport, requests, max_length=MAX_AHEAD_SIZE)))
        if not batches:
            return []
        _load_crypto()  # while the servers answer
        fetched = []
        for bases, batch in batches:
            bodies = batch.bodies()
            with self._guard:
                for key, base in bases.items():
                    ahead = fetched_ahead(base, bodies)
                    if ahead:
                        self._ahead[key] = ahead
                        fetched.append(key)
        return fetched

    def _first_loads(self, refs: list[ImageReference]
                     ) -> dict[str, dict[tuple[str, str], str]]:
        """The repositories of *refs* whose first update is still to come (not loaded by this
        client, nothing in the trust dir), per server host: (server, GUN) → request path of
        their metadata directory."""
        if self.offline:
            return {}
        tuf = os.path.join(trust_dir(self.docker_config), "tuf")
        found: dict[str, dict[tuple[str, str], str]] = {}
        for ref in refs:
            try:
                server = self.server(ref)
            except TrustError:
                continue  # resolving the reference reports it
            key = (server, ref.name)
            parts = urllib.parse.urlsplit(server)
            if (parts.scheme != "https" or not parts.netloc or key in self._repos
                    or os.path.exists(f"{tuf}/{ref.name}/metadata/root.json")
                    or not self._may_fetch_root(ref.name)):
                continue
            found.setdefault(parts.netloc, {})[key] = f"{parts.path}/v2/{ref.name}/_trust/tuf/"
        return found

    def _may_fetch_root(self, gun: str) -> bool:
        """Whether an update may take a root from the server: trust on first use, or a pin."""
        if self.allow_tofu:
            return True
        try:
            return self.pin_for(gun) is not None
        except TrustError:
            return False  # the update reports the pin's problem


def _load_crypto() -> None:
    """Import ``crypto`` now; if that fails, the signature check that needs it says why."""
    with contextlib.suppress(ImportError):
        from trustbuild._internal.notary import crypto  # noqa: F401


T = TypeVar("T")
U = TypeVar("U")


def _concurrently(func: Callable[[T], U], items: Sequence[T], workers: int) -> list[U]:
    """*func* over *items* on up to *workers* threads, results in order; the first exception
    *func* raises is raised here.  (``concurrent.futures`` costs about 6 ms of imports, a
    tenth of a warm check.)"""
    if len(items) <= 1 or workers <= 1:
        return [func(item) for item in items]
    slots: dict[int, U] = {}
    errors: list[BaseException] = []
    jobs = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while not errors:
            with lock:
                index = next(jobs, None)
            if index is None:
                return
            try:
                slots[index] = func(items[index])
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(min(workers, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [slots[i] for i in range(len(items))]


def _require_signers(repo: TrustedRepository, target: SignedTarget,
                     rule: RepositoryRule) -> None:
    """Every required role must list the tag with the same digest, signed by the required
    keys."""
    for role_name in rule.signers:
        role = repo.role(role_name)
        covered = role_name == "targets" or any(target.tag.startswith(p)
                                                for p in repo.paths_of(role_name))
        meta = role.targets.get(target.tag) if role is not None and covered else None
        if meta is None:
            raise PolicyRefusal(f"{role_name} has not signed {target.tag}, and {rule.source} "
                                "requires it", gun=repo.gun, server=repo.server)
        if f"sha256:{meta.sha256_hex}" != target.digest:
            raise PolicyRefusal(f"{role_name} signed sha256:{meta.sha256_hex} for "
                                f"{target.tag}, but {target.role} signed {target.digest}; "
                                f"{rule.source} requires one digest from every signer",
                                gun=repo.gun, server=repo.server)
        wanted = set(rule.signer_keys.get(role_name, ()))
        missing = wanted - repo.signed_key_ids(role_name)
        if missing:
            raise PolicyRefusal(f"{role_name} is not signed by key(s) "
                                f"{', '.join(sorted(missing))}, which {rule.source} requires",
                                gun=repo.gun, server=repo.server)


def _signing_evidence(repo: TrustedRepository, role_name: str
                      ) -> tuple[tuple[str, ...], int, datetime | None]:
    """Key IDs (as the role's signatures name them) whose signatures verify, version and
    expiry of the role that signed a target."""
    role = repo.role(role_name)
    if role is None:
        return (), 0, None
    listed = {sig.keyid for sig in role.envelope.signatures}
    return tuple(sorted(listed & repo.signed_key_ids(role_name))), role.version, role.expires


def _as_reference(reference: str | ImageReference) -> ImageReference:
    if isinstance(reference, ImageReference):
        return reference
    try:
        return parse_normalized(reference)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(f"{reference}: {exc}") from None
