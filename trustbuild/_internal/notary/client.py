"""The library's trust client: image reference → signed digest.

Thread-safe.  One verified load of a repository's trust data answers every reference to it
for ``max_age``; a lock per repository makes concurrent references share that load.
:meth:`TrustClient.resolve_many` resolves repositories concurrently and asks for the files
of their first updates by name, all at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from trustbuild._internal.dockerconfig import config_dir, default_trust_server, trust_dir
from trustbuild._internal.notary.cache import MetadataCache, ReadOnlyCache
from trustbuild._internal.notary.credentials import registry_credentials
from trustbuild._internal.notary.repository import SignedTarget, TrustedRepository
from trustbuild._internal.notary.roots import RootPin
from trustbuild._internal.notary.transport import ServerTLS, Transport, TransportConfig
from trustbuild._internal.reference import ImageReference, parse_normalized
from trustbuild.errors import InvalidReferenceError, NoTrustData, Reason, TrustError, UsageError

if TYPE_CHECKING:
    from trustbuild._internal.notary.inspection import RepositoryReport
    from trustbuild._internal.policy import Policy
    from trustbuild._internal.registry import Existence

log = logging.getLogger(__name__)

# How long one verified load of a repository answers, as notary-server's own
# Cache-Control max-age for current metadata (300 s).
DEFAULT_MAX_AGE = timedelta(minutes=5)
# The deadline of one call (resolve, resolve_many, inspect): every request it makes must end
# by then.  TRUSTBUILD_TIMEOUT (seconds) overrides it.
DEFAULT_RUN_TIMEOUT = 300.0
MAX_WORKERS = 32
# What the first update of a repository reads, by current name: root, timestamp, then
# snapshot, targets and targets/releases, each checked against the hash its parent lists.
FIRST_READS = ("root", "timestamp", "snapshot", "targets", "targets/releases")
MAX_FIRST_READ_SIZE = 4 * 1024 * 1024


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


class TrustClient:
    """Resolve references through Docker Content Trust.

    ``policy``: a :class:`trustbuild._internal.policy.Policy`; it chooses each repository's
    trust server and TLS files, pins roots, requires signers, and sets ``offline``, trust on
    first use and the grace period.  Explicit arguments combine with it as documented:

    * ``offline=True`` turns offline mode on (use only cached metadata, and only while none of
      it has expired), whatever the policy says; ``False`` leaves it to the policy;
    * ``allow_tofu=False`` turns trust on first use off; ``True`` leaves it to the policy;
    * ``grace`` is used only where the policy does not set one: a different grace than the
      policy's is a :class:`UsageError`, as is ``pin_for`` together with a policy (pins are the
      policy's ``[[repository]]`` rules).

    ``server_for``: the trust server per reference, overriding the policy and docker's rule.
    ``max_age``: how long one verified load of a repository answers before the timestamp is
    fetched again (never past the expiry of the data).  ``run_timeout``: seconds one call
    (``resolve``, ``resolve_many``, ``inspect``) may take, all requests included.
    ``ask_registry``: when a trust server has no trust data for a repository, ask its
    registry (best effort, briefly) whether the repository and tag exist, to say so
    (``repository-not-found``); the answer never makes anything trusted."""

    def __init__(self, *, docker_config: Path | None = None,
                 env: Mapping[str, str] | None = None, policy: Policy | None = None,
                 offline: bool = False, allow_tofu: bool = True,
                 grace: timedelta | None = None,
                 pin_for: Callable[[str], RootPin | None] | None = None,
                 server_for: Callable[[ImageReference], str] | None = None,
                 transport: Transport | None = None,
                 clock: Callable[[], datetime] | None = None,
                 max_age: timedelta = DEFAULT_MAX_AGE,
                 run_timeout: float | None = None, ask_registry: bool = True,
                 progress: Progress | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        self.progress = progress
        self.docker_config = docker_config if docker_config is not None \
            else config_dir(self._env)
        self.policy = policy
        self.offline = offline or bool(policy is not None and policy.offline.value)
        self.allow_tofu = allow_tofu and bool(policy is None or policy.tofu.value)
        self.grace = _grace(grace, policy)
        if pin_for is not None and policy is not None:
            raise UsageError("pin_for and a policy cannot be combined: the policy's "
                             "[[repository]] rules pin roots")
        self._pin_for = pin_for
        self._server_for = server_for
        self.max_age = max_age
        self.run_timeout = _run_timeout(run_timeout, self._env)
        self._clock = clock or (lambda: datetime.now(UTC))
        config = self.docker_config
        self.transport = transport or Transport(
            TransportConfig(docker_config=config, request_timeout=min(60.0, self.run_timeout)),
            env=self._env, credentials=partial(registry_credentials, docker_config=config))
        self._repos: dict[tuple[str, str], tuple[datetime, TrustedRepository | TrustError]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._first_reads: dict[tuple[str, str], _FirstReads] = {}
        self._existences: dict[tuple[str, str], Existence] = {}
        self._guard = threading.Lock()
        self.ask_registry = ask_registry

    def __repr__(self) -> str:
        files = self.policy.files if self.policy is not None else []
        return (f"TrustClient(docker_config={str(self.docker_config)!r}, "
                f"offline={self.offline}, allow_tofu={self.allow_tofu}, grace={self.grace}, "
                f"policy_files={files!r}, transport={self.transport!r})")

    # -- servers and pins -----------------------------------------------------------------------

    def server(self, ref: ImageReference) -> str:
        """The trust server URL for *ref*: ``server_for``, the policy, or docker's rule."""
        if self._server_for is not None:
            return self._server_for(ref)
        if self.policy is None:
            return default_trust_server(ref, self._env)
        choice = self.policy.server_for(ref, self._env)
        if choice.ca or choice.client_cert:
            self.transport.use_tls(urllib.parse.urlsplit(choice.url).netloc, ServerTLS(
                choice.ca, choice.client_cert, choice.client_key, choice.source))
        return choice.url

    def _pin(self, gun: str) -> RootPin | None:
        if self._pin_for is not None:
            return self._pin_for(gun)
        return self.policy.root_pin(gun) if self.policy is not None else None

    def _may_fetch_root(self, gun: str) -> bool:
        """Whether an update may take a root from the server: trust on first use, or a pin."""
        if self.allow_tofu:
            return True
        try:
            return self._pin(gun) is not None
        except TrustError:
            return False  # the update reports the pin's problem

    # -- repositories ---------------------------------------------------------------------------

    def repository(self, ref: ImageReference, *,
                   deadline: float | None = None) -> TrustedRepository:
        """The verified trust data of *ref*'s repository.  One load serves every reference
        to that repository for ``max_age`` (an error too, so one failing repository is not
        asked again for each of its references), and never past the expiry of the data it
        rests on; then the timestamp is fetched and checked again."""
        deadline = deadline if deadline is not None else self._deadline()
        server = self.server(ref)
        key = (server, ref.name)
        with self._lock_for(server, ref.name):
            now = self._clock()
            entry = self._repos.get(key)
            if entry is None or self._stale(entry, now):
                try:
                    known: TrustedRepository | TrustError = self._load(ref, server, deadline)
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

    def _load(self, ref: ImageReference, server: str, deadline: float) -> TrustedRepository:
        gun = ref.name
        with self._guard:
            first_reads = self._first_reads.pop((server, gun), None)
        cache_cls = ReadOnlyCache if self.offline else MetadataCache
        cache = cache_cls(trust_dir(self.docker_config), gun)
        hostport = urllib.parse.urlsplit(server).netloc
        fetcher = _Fetcher(self.transport, f"{server}/v2/{gun}/_trust/tuf/",
                           f"repository:{gun}:pull", ref.domain, deadline, first_reads)
        repo = TrustedRepository(gun, fetcher, cache, now=self._clock(), server=hostport,
                                 offline=self.offline, pin=self._pin(gun),
                                 allow_tofu=self.allow_tofu, grace=self.grace)
        if self.offline:
            log.info("%s: offline, from the trust cache only (%s)", gun, cache.repo_dir)
        else:
            log.info("%s: trust server %s; %s", gun, server, self.transport.describe(hostport))
        try:
            with cache.locked():
                repo.update()
        finally:
            if fetcher.fetched:
                log.info("%s: fetched %s%s; everything else from the trust cache", gun,
                         ", ".join(fetcher.fetched),
                         " (asked for at once, by name)" if first_reads else "")
            elif not self.offline:
                log.info("%s: nothing fetched: the trust cache answered", gun)
        return repo

    def _lock_for(self, server: str, gun: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((server, gun), threading.Lock())

    def _deadline(self) -> float:
        return time.monotonic() + self.run_timeout

    # -- answers --------------------------------------------------------------------------------

    def resolve(self, reference: str | ImageReference) -> TrustedDigest:
        """The digest signed for *reference*'s tag (``latest`` when it has none).

        A reference with a digest is accepted only if that digest is signed: for its tag when
        it has one, else for any tag."""
        return self._resolve(_as_reference(reference), self._deadline())

    def _resolve(self, ref: ImageReference, deadline: float) -> TrustedDigest:
        tag = ref.tag or (ref.digest if ref.digest else "latest")
        try:
            repo = self.repository(ref, deadline=deadline)
        except NoTrustData as exc:
            raise self._explained(ref, tag, exc) from None
        with self._lock_for(self.server(ref), ref.name):  # a lookup may load delegations
            target = repo.lookup(tag) if ref.digest is None else _signed_digest(repo, ref)
        notes = list(repo.notes)
        rule = self.policy.repository_rule(repo.gun) if self.policy is not None else None
        if rule is not None and rule.signers:
            from trustbuild._internal.policy import check_required_signers

            with self._lock_for(self.server(ref), ref.name):
                signed = {role: _listed(repo, role, target.tag) for role in rule.signers}
            try:
                check_required_signers(rule, target.tag, target.digest, target.role, signed)
            except TrustError as exc:
                raise exc.with_context(repo.gun, repo.server) from None
            notes.append(f"signed by {', '.join(rule.signers)} as {rule.source} requires")
        if self.offline:
            notes.append("answered offline from the local trust cache")
        with self._lock_for(self.server(ref), ref.name):
            key_ids, version, expires = _signing_evidence(repo, target.role)
        log.info("%s:%s is %s, signed by %s", repo.gun, target.tag, target.digest, target.role)
        return TrustedDigest(ref, repo.gun, target.tag, target.digest, target.size,
                             target.role, repo.expires(), repo.server, self.offline,
                             tuple(notes), key_ids, version, expires)

    def _explained(self, ref: ImageReference, tag: str, exc: NoTrustData) -> NoTrustData:
        """``No trust data for <tag>``; when the trust server has nothing for the repository,
        and the registry says (asked best effort, briefly) that it has no such repository or
        tag, that too: a misspelt name should not read like an unsigned image.  The answer
        only explains a refusal; it never makes anything trusted."""
        from trustbuild._internal.registry import Existence  # it imports the transport

        message, reason = f"No trust data for {tag}: {exc.message}", exc.reason
        if reason is Reason.NO_TRUST_DATA and self.ask_registry and not self.offline:
            found = self._existence(ref)
            if found is Existence.NO_REPOSITORY:
                message += f"; the registry has no repository {ref.name}: misspelt?"
                reason = Reason.REPOSITORY_NOT_FOUND
            elif found is Existence.NO_TAG:
                message += f"; the registry has no tag {tag} in {ref.name}"
        return NoTrustData(message, gun=exc.gun, server=exc.server, reason=reason,
                           signed_by=exc.signed_by)

    def _existence(self, ref: ImageReference) -> Existence:
        key = (ref.name, ref.tag or "")
        with self._guard:
            known = self._existences.get(key)
        if known is None:
            from trustbuild._internal.registry import RegistryClient

            known = RegistryClient(self.transport).existence(ref)
            log.info("%s: the trust server has no trust data; the registry says: %s",
                     ref.name, known.value)
            with self._guard:
                self._existences[key] = known
        return known

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

    def resolve_many(self, references: Iterable[str | ImageReference], *,
                     max_workers: int = MAX_WORKERS) -> dict[str, TrustedDigest | TrustError]:
        """Resolve several references, each on its own (an error is the answer for that
        reference, never for the others), on up to *max_workers* threads.

        Repositories the trust dir has nothing of have their first update's files asked for
        by name at once, so that the round trips of all of them overlap."""
        parsed = {str(ref): ref for ref in map(_as_reference, references)}
        deadline = self._deadline()
        tracker = _Tracker(self.progress, len(parsed))

        def one(text: str) -> TrustedDigest | TrustError:
            server = self._server_quietly(parsed[text])
            tracker.started(server)
            try:
                return self._resolve(parsed[text], deadline)
            except TrustError as exc:
                return exc
            finally:
                tracker.finished(server)

        first_uses = self._first_uses(list(parsed.values()))
        requests = len(first_uses) * len(FIRST_READS)
        fetchers = ThreadPoolExecutor(max_workers=max(1, min(max_workers, requests)),
                                      thread_name_prefix="trustbuild-fetch")
        try:
            for key, ref in first_uses.items():
                self._ask_first_reads(key, ref, fetchers, deadline)
            workers = max(1, min(max_workers, len(parsed)))
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="trustbuild-resolve") as resolvers:
                return dict(zip(parsed, resolvers.map(one, parsed), strict=True))
        finally:
            fetchers.shutdown(wait=True, cancel_futures=True)
            with self._guard:
                for key in first_uses:
                    self._first_reads.pop(key, None)  # what the updates did not take

    def _server_quietly(self, ref: ImageReference) -> str:
        """The trust server's host:port for progress reports ("" when it cannot be told)."""
        try:
            return urllib.parse.urlsplit(self.server(ref)).netloc
        except TrustError:
            return ""

    def _first_uses(self, refs: list[ImageReference]) -> dict[tuple[str, str], ImageReference]:
        """The repositories of *refs* whose first update is still to come: not loaded by
        this client, nothing in the trust dir, a root that may come from the server."""
        if self.offline:
            return {}
        tuf = trust_dir(self.docker_config) / "tuf"
        found: dict[tuple[str, str], ImageReference] = {}
        for ref in refs:
            try:
                server = self.server(ref)
            except TrustError:
                continue  # resolving the reference reports it
            key = (server, ref.name)
            if (key in found or key in self._repos or not server.startswith("https://")
                    or (tuf / ref.name / "metadata" / "root.json").exists()
                    or not self._may_fetch_root(ref.name)):
                continue
            found[key] = ref
        return found

    def _ask_first_reads(self, key: tuple[str, str], ref: ImageReference,
                         fetchers: ThreadPoolExecutor, deadline: float) -> None:
        server, gun = key
        base = f"{server}/v2/{gun}/_trust/tuf/"
        get = partial(self.transport.get, max_length=MAX_FIRST_READ_SIZE,
                      scope=f"repository:{gun}:pull", registry=ref.domain, deadline=deadline)
        futures = {role: fetchers.submit(get, f"{base}{role}.json") for role in FIRST_READS}
        with self._guard:
            self._first_reads[key] = _FirstReads(futures)


class Progress(Protocol):
    """Told how a :meth:`TrustClient.resolve_many` goes: references done of *total*, and the
    trust servers being waited on."""

    def update(self, done: int, total: int, waiting: Sequence[str]) -> None: ...


class _Tracker:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress, self._total = progress, total
        self._done = 0
        self._waiting: dict[str, int] = {}
        self._lock = threading.Lock()

    def started(self, server: str) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._waiting[server] = self._waiting.get(server, 0) + 1
            self._report()

    def finished(self, server: str) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._done += 1
            self._waiting[server] -= 1
            if not self._waiting[server]:
                del self._waiting[server]
            self._report()

    def _report(self) -> None:
        assert self._progress is not None
        self._progress.update(self._done, self._total, sorted(s for s in self._waiting if s))


class _FirstReads:
    """A first update's files, asked for by current name.  Each is handed to the update only
    when it is the file the update asks for (the same name, or a hash it has), so the update
    checks it as it checks any download; one the update does not ask for is dropped, one that
    failed or changed the update fetches itself."""

    def __init__(self, futures: dict[str, Future[bytes]]) -> None:
        self._futures = futures

    def take(self, name: str, max_length: int) -> bytes | None:
        stem = name.removesuffix(".json")
        role, _, digest = stem.rpartition(".")
        if not role or len(digest) != 64:
            role, digest = stem, ""
        future = self._futures.pop(role, None)
        if future is None:
            return None
        try:
            data = future.result()
        except TrustError:
            return None  # asked again the usual way, which reports what is wrong
        if len(data) > max_length:
            return None
        if digest and hashlib.sha256(data).hexdigest() != digest:
            return None
        return data


class _Fetcher:
    """One update's downloads (``repository.Fetcher``), and the names it fetched."""

    def __init__(self, transport: Transport, base: str, scope: str, registry: str,
                 deadline: float, first_reads: _FirstReads | None) -> None:
        self._transport, self._base, self._scope = transport, base, scope
        self._registry, self._deadline, self._first_reads = registry, deadline, first_reads
        self.fetched: list[str] = []

    def fetch(self, name: str, max_length: int) -> bytes:
        self.fetched.append(name)
        if self._first_reads is not None:
            data = self._first_reads.take(name, max_length)
            if data is not None:
                return data
        return self._transport.get(self._base + name, max_length=max_length,
                                   scope=self._scope, registry=self._registry,
                                   deadline=self._deadline)


def _listed(repo: TrustedRepository, role_name: str,
            tag: str) -> tuple[str | None, frozenset[str]]:
    """What *role_name* says of *tag*, for the policy's required signers: the digest it lists
    where its paths cover the tag, and the key IDs whose signatures on it verify."""
    role = repo.role(role_name)
    covered = role_name == "targets" or any(tag.startswith(p) for p in repo.paths_of(role_name))
    meta = role.targets.get(tag) if role is not None and covered else None
    digest = f"sha256:{meta.sha256_hex}" if meta is not None else None
    return digest, frozenset(repo.signed_key_ids(role_name))


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


def _grace(grace: timedelta | None, policy: Policy | None) -> timedelta:
    if policy is None or policy.grace.source == "default":
        return grace if grace is not None else timedelta(0)
    chosen: timedelta = policy.grace.value
    if grace is not None and grace != chosen:
        raise UsageError(f"grace {grace} contradicts trust.grace = {chosen} in "
                         f"{policy.grace.source}")
    return chosen


def _run_timeout(explicit: float | None, env: Mapping[str, str]) -> float:
    if explicit is not None:
        value = explicit
    else:
        text = env.get("TRUSTBUILD_TIMEOUT", "")
        try:
            value = float(text) if text else DEFAULT_RUN_TIMEOUT
        except ValueError:
            raise UsageError(f"TRUSTBUILD_TIMEOUT must be a number of seconds, not {text!r}"
                             ) from None
    if not value > 0 or value == float("inf"):
        raise UsageError(f"the run timeout must be a positive number of seconds, not {value}")
    return value


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
