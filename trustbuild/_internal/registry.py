"""A small registry client (distribution API v2): what trustbuild asks a registry, and why it
never trusts the answer.

Two questions only:

* **A base image's ONBUILD triggers, at its signed digest.**  The manifest is fetched *by the
  digest trust data signed* and its bytes must hash to it; an index (or a docker manifest
  list) names the manifest of each platform by digest, hash-checked the same way; that
  manifest names its config blob by digest, hash-checked too.  So the triggers are exactly
  those of the signed image, whoever served them: the registry's own ``Docker-Content-Digest``
  and media types decide nothing.
* **Whether a repository or tag exists**, when its trust server has no trust data for it:
  only to say *why* the image is refused (``repository-not-found``: a misspelt name), never
  to let anything through.

Requests go through the notary :class:`~trustbuild._internal.notary.transport.Transport`
(one connection pool per server, deadlines, size caps, proxies, token auth with docker's
credentials, TLS verified).  Plain http is used only for loopback registries
(``127.0.0.0/8``, ``::1``, ``localhost``), which docker itself treats as insecure registries
without configuration: https is tried first, then http, as docker does.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from trustbuild._internal.dockerfile.platforms import Platform, parse_platform
from trustbuild._internal.notary.transport import Response, Transport
from trustbuild._internal.proxy import is_loopback
from trustbuild._internal.reference import DEFAULT_DOMAIN, ImageReference
from trustbuild.errors import (
    AuthenticationError,
    DockerfileError,
    HashMismatchError,
    NotFoundError,
    RegistryError,
    ServerError,
    TransportError,
    TrustError,
)

log = logging.getLogger(__name__)

DOCKER_HUB_REGISTRY = "registry-1.docker.io"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
MAX_MANIFEST_SIZE = 4 * 1024 * 1024  # containerd's and distribution's manifest limit
MAX_CONFIG_SIZE = 8 * 1024 * 1024
MAX_TAGS_SIZE = 256 * 1024
MAX_REDIRECTS = 3
REQUEST_TIMEOUT = 60.0  # one question (every request it takes)
PROBE_TIMEOUT = 5.0  # the best-effort existence check
_DIGEST_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Existence(enum.Enum):
    """What a registry says of a repository and tag."""

    FOUND = "found"
    NO_REPOSITORY = "no-repository"  # NAME_UNKNOWN
    NO_TAG = "no-tag"  # the repository exists, MANIFEST_UNKNOWN for the tag
    UNKNOWN = "unknown"  # it could not be asked, or did not say


# -- pure: manifests, platforms, configs ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest: its config blob."""

    media_type: str
    config: Descriptor


@dataclass(frozen=True, slots=True)
class Index:
    """An OCI index or docker manifest list: one manifest per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]


def registry_host(domain: str) -> str:
    """Where docker pulls *domain*'s images: Docker Hub's API host for ``docker.io``."""
    return DOCKER_HUB_REGISTRY if domain == DEFAULT_DOMAIN else domain


def check_digest(data: bytes, digest: str, what: str) -> None:
    """*data* must hash to *digest* (``algorithm:hex``), or :class:`HashMismatchError`."""
    algorithm, _, expected = digest.partition(":")
    if _DIGEST_ALGORITHMS.get(algorithm) != len(expected):
        raise RegistryError(f"{what}: unsupported digest {digest!r}")
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected.lower():
        raise HashMismatchError(f"{what}: the registry sent content whose digest is "
                                f"{algorithm}:{actual}, not {digest}; refusing it")


def parse_manifest(data: bytes, content_type: str, what: str) -> Manifest | Index:
    """A manifest or index from its (already hash-checked) bytes.  The type is the document's
    ``mediaType``, else the response's ``Content-Type``; both must agree when both are set."""
    document = _json_object(data, what)
    declared = document.get("mediaType")
    header = content_type.split(";", 1)[0].strip().lower()
    if declared is not None and not isinstance(declared, str):
        raise RegistryError(f"{what}: mediaType is not a string")
    kind = declared or header
    if declared and header in (*MANIFEST_TYPES, *INDEX_TYPES) and header != declared:
        raise RegistryError(f"{what}: the document says {declared}, the registry {header}")
    if not kind:  # an OCI document may leave mediaType out; its fields say which it is
        kind = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    if kind in INDEX_TYPES:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise RegistryError(f"{what}: an index without a manifests list")
        return Index(kind, tuple(_descriptor(e, what, with_platform=True) for e in entries))
    if kind in MANIFEST_TYPES:
        return Manifest(kind, _descriptor(document.get("config"), what))
    raise RegistryError(f"{what}: unsupported manifest type {kind!r} (trustbuild reads "
                        "docker v2 and OCI manifests and indexes)")


def _json_object(data: bytes, what: str) -> dict[str, object]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what}: not JSON") from None
    if not isinstance(document, dict):
        raise RegistryError(f"{what}: not a JSON object")
    return document


def _descriptor(value: object, what: str, *, with_platform: bool = False) -> Descriptor:
    if not isinstance(value, dict):
        raise RegistryError(f"{what}: a descriptor that is not an object")
    media_type, digest, size = value.get("mediaType", ""), value.get("digest"), \
        value.get("size", 0)
    if not isinstance(digest, str) or not isinstance(media_type, str) \
            or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{what}: a malformed descriptor")
    platform = None
    if with_platform:
        raw = value.get("platform")
        if isinstance(raw, dict) and isinstance(raw.get("os"), str) \
                and isinstance(raw.get("architecture"), str):
            variant = raw.get("variant")
            platform = Platform(raw["os"], raw["architecture"],
                                variant if isinstance(variant, str) else "")
    return Descriptor(media_type, digest, size, platform)


def _normal(platform: Platform) -> Platform:
    """containerd's normalisation: arm64's default variant is v8, arm's v7."""
    default = {"arm64": "v8", "arm": "v7"}.get(platform.arch)
    return Platform(platform.os, platform.arch, platform.variant or default or "")


def choose(index: Index, platform: Platform, what: str) -> Descriptor:
    """The manifest of *index* a builder pulls for *platform*: the one of the same OS,
    architecture and variant; failing that, the only one of that OS and architecture.
    Entries without a platform (attestations, say) are never chosen."""
    wanted = _normal(platform)
    same_arch = [d for d in index.manifests if d.platform is not None
                 and d.platform.os == wanted.os and d.platform.arch == wanted.arch]
    exact = [d for d in same_arch if d.platform is not None and _normal(d.platform) == wanted]
    if exact:
        return exact[0]
    if len(same_arch) == 1:
        return same_arch[0]
    offered = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
    raise RegistryError(f"{what}: no manifest for {platform} (the index offers {offered})")


def onbuild_of(config: bytes, what: str) -> list[str]:
    """The ``config.OnBuild`` triggers of an image config (none: ``[]``)."""
    document = _json_object(config, what)
    inner = document.get("config")
    if inner is None:
        return []
    if not isinstance(inner, dict):
        raise RegistryError(f"{what}: config is not an object")
    triggers = inner.get("OnBuild")
    if triggers is None:
        return []
    if not isinstance(triggers, list) or not all(isinstance(t, str) for t in triggers):
        raise RegistryError(f"{what}: OnBuild is not a list of strings")
    return list(triggers)


def error_codes(body: bytes) -> set[str]:
    """The ``errors[].code`` values of a distribution error body."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return set()
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return set()
    return {e["code"] for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str)}


# -- the client ----------------------------------------------------------------------------------

class RegistryClient:
    """Reads manifests and configs by digest from registries.  Thread-safe; shares the
    trust client's :class:`Transport` (its pools, proxies, TLS files and credentials)."""

    def __init__(self, transport: Transport, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.transport = transport
        self.timeout = timeout
        self._schemes: dict[str, str] = {}  # loopback host -> the scheme that answered
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RegistryClient(timeout={self.timeout}, transport={self.transport!r})"

    def onbuild_triggers(self, image: ImageReference, platforms: Sequence[str | Platform],
                         *, deadline: float | None = None) -> list[str]:
        """The ONBUILD triggers of *image* (``name@digest``; ``name:tag`` only for an image a
        policy exception lets through unverified, whose tag the exception vouches for) for
        each of *platforms* (in order, each once; one set when the digest is a single
        manifest).  Raises a :class:`TrustError` saying why they cannot be read."""
        deadline = self._deadline(deadline, self.timeout)
        if image.digest is None:
            if image.tag is None:
                raise RegistryError(f"{image}: neither a digest nor a tag to read it at")
            what = f"{image.name}:{image.tag}"
            found = self._manifest(image, image.tag, deadline, what, by_tag=True)
        else:
            what = f"{image.name}@{image.digest}"
            found = self._manifest(image, image.digest, deadline, what)
        manifests: list[Manifest] = []
        if isinstance(found, Index):
            wanted = [p if isinstance(p, Platform) else _platform(p, what) for p in platforms]
            if not wanted:
                raise RegistryError(f"{what}: an index, and no platform to choose from it")
            for platform in wanted:
                entry = choose(found, platform, what)
                child = self._manifest(image, entry.digest, deadline,
                                       f"{what} ({platform}: {entry.digest})")
                if not isinstance(child, Manifest):
                    raise RegistryError(f"{what}: the manifest for {platform} is an index "
                                        "itself")
                manifests.append(child)
        else:
            manifests.append(found)
        triggers: list[str] = []
        seen: set[str] = set()
        for manifest in manifests:
            if manifest.config.digest in seen:
                continue
            seen.add(manifest.config.digest)
            config = self._blob(image, manifest.config.digest, deadline,
                                f"{what} config {manifest.config.digest}")
            for trigger in onbuild_of(config, f"{what} config"):
                if trigger not in triggers:
                    triggers.append(trigger)
        log.info("%s: ONBUILD triggers read from the registry (%d)", what, len(triggers))
        return triggers

    def existence(self, ref: ImageReference, *, timeout: float = PROBE_TIMEOUT) -> Existence:
        """Best effort, within *timeout*: whether the registry has *ref*'s repository and
        tag.  Anything but the registry's own ``NAME_UNKNOWN`` / ``MANIFEST_UNKNOWN`` error
        codes is :attr:`Existence.UNKNOWN`."""
        deadline = time.monotonic() + timeout
        try:
            answer = self._get(ref, "tags/list?n=1", deadline, MAX_TAGS_SIZE)
            if answer.status == 404:
                return Existence.NO_REPOSITORY if "NAME_UNKNOWN" in error_codes(answer.body) \
                    else Existence.UNKNOWN
            if answer.status != 200 or ref.tag is None:
                return Existence.FOUND if answer.status == 200 else Existence.UNKNOWN
            answer = self._get(ref, f"manifests/{ref.tag}", deadline, MAX_MANIFEST_SIZE)
        except TrustError as exc:
            log.info("%s: the registry could not say whether it exists: %s", ref.name, exc)
            return Existence.UNKNOWN
        if answer.status == 404:
            codes = error_codes(answer.body)
            if "NAME_UNKNOWN" in codes:
                return Existence.NO_REPOSITORY
            return Existence.NO_TAG if "MANIFEST_UNKNOWN" in codes else Existence.UNKNOWN
        return Existence.FOUND if answer.status == 200 else Existence.UNKNOWN

    # -- requests ------------------------------------------------------------------------------

    def _manifest(self, image: ImageReference, digest: str, deadline: float,
                  what: str, *, by_tag: bool = False) -> Manifest | Index:
        answer = self._ok(self._get(image, f"manifests/{digest}", deadline, MAX_MANIFEST_SIZE,
                                    accept=ACCEPT), what)
        if not by_tag:  # a tag has no digest to check the bytes against
            check_digest(answer.body, digest, what)
        return parse_manifest(answer.body, answer.content_type, what)

    def _blob(self, image: ImageReference, digest: str, deadline: float, what: str) -> bytes:
        answer = self._ok(self._get(image, f"blobs/{digest}", deadline, MAX_CONFIG_SIZE), what)
        check_digest(answer.body, digest, what)
        return answer.body

    def _ok(self, answer: Response, what: str) -> Response:
        if answer.status == 200:
            return answer
        codes = ", ".join(sorted(error_codes(answer.body)))
        detail = f" ({codes})" if codes else ""
        if answer.status == 404:
            raise NotFoundError(f"{what}: the registry does not have it{detail}")
        if answer.status in (401, 403):
            raise AuthenticationError(f"{what}: the registry refused access ({answer.status})"
                                      f"{detail}: run docker login for it")
        raise ServerError(f"{what}: the registry answered {answer.status}{detail}")

    def _get(self, image: ImageReference, path: str, deadline: float, limit: int, *,
             accept: str | None = None) -> Response:
        """GET ``/v2/<name>/<path>`` with a pull token for the repository, following
        redirects (blobs are often served from elsewhere; without credentials there)."""
        host = registry_host(image.domain)
        scope = f"repository:{image.path}:pull"
        url = f"{self._scheme(host, image.domain, scope, deadline)}://{host}/v2/" \
              f"{image.path}/{path}"
        origin = url
        for _ in range(MAX_REDIRECTS + 1):
            same = _origin(url) == _origin(origin)
            answer = self.transport.fetch(url, max_length=limit, scope=scope,
                                          registry=image.domain, deadline=deadline,
                                          accept=accept, authenticate=same)
            if answer.status not in _REDIRECTS or not answer.location:
                return answer
            url = _follow(url, answer.location)
        raise RegistryError(f"{origin}: more than {MAX_REDIRECTS} redirects")

    def _scheme(self, host: str, domain: str, scope: str, deadline: float) -> str:
        """https; for a loopback registry, http when https cannot be spoken to it (docker
        tries both, in that order)."""
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if not is_loopback(hostname):
            return "https"
        with self._lock:
            known = self._schemes.get(host)
        if known is not None:
            return known
        try:
            self.transport.fetch(f"https://{host}/v2/", max_length=MAX_TAGS_SIZE, scope=scope,
                                 registry=domain, deadline=deadline, authenticate=False)
            scheme = "https"
        except TransportError as exc:
            log.info("%s: no https (%s): plain http, as docker uses for a loopback registry",
                     host, exc)
            scheme = "http"
        with self._lock:
            self._schemes[host] = scheme
        return scheme

    @staticmethod
    def _deadline(deadline: float | None, timeout: float) -> float:
        mine = time.monotonic() + timeout
        return mine if deadline is None else min(deadline, mine)


def _platform(text: str, what: str) -> Platform:
    try:
        return parse_platform(text)
    except DockerfileError as exc:
        raise RegistryError(f"{what}: {exc.message}") from None


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _follow(url: str, location: str) -> str:
    """The redirect's target; never from https down to plain http (a remote registry must
    not send trustbuild to local plain-http services)."""
    try:
        target = urllib.parse.urljoin(url, location)
        scheme = urllib.parse.urlsplit(target).scheme
    except ValueError:
        raise RegistryError(f"{url}: a redirect to an unusable URL {location[:200]!r}") \
            from None
    if url.startswith("https://") and scheme != "https":
        raise RegistryError(f"{url}: a redirect from https to {scheme or 'no'} scheme "
                            f"({location[:200]!r}) is refused")
    return target
