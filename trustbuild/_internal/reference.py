"""Image references as docker understands them (distribution/reference v0.6 + go-digest).

``parse_normalized`` accepts what ``reference.ParseNormalizedNamed`` accepts and fails with the
same reasons; :class:`ImageReference` renders the normalized (``docker.io/library/alpine:3.19``)
and familiar (``alpine:3.19``) forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trustbuild.errors import InvalidReferenceError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_ANCHORED_DOMAIN = re.compile(rf"({_DOMAIN})/(.+)", re.ASCII)
_HEX64 = re.compile(r"[a-f0-9]{64}")
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalized reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository, ``docker.io/library/alpine``: the GUN in Docker Content Trust."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path.removeprefix(OFFICIAL_PREFIX) if self.path.count("/") == 1 \
            else self.path

    def __str__(self) -> str:
        return self.name + _suffix(self.tag, self.digest)

    @property
    def familiar(self) -> str:
        return self.familiar_name + _suffix(self.tag, self.digest)

    def with_default_tag(self) -> ImageReference:
        """``TagNameOnly``: add ``latest`` when there is neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return ImageReference(self.domain, self.path, "latest", None)
        return self

    def with_digest(self, digest: str) -> ImageReference:
        validate_digest(digest)
        return ImageReference(self.domain, self.path, self.tag, digest)

    @property
    def is_official_hub(self) -> bool:
        return self.domain == DEFAULT_DOMAIN


def _suffix(tag: str | None, digest: str | None) -> str:
    return (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def split_docker_domain(name: str) -> tuple[str, str]:
    slash = name.find("/")
    first = name[:slash]
    if slash == -1 or (not any(c in first for c in ".:") and first != "localhost"
                       and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[slash + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> ImageReference:
    """``ParseNormalizedNamed``: familiar or full text to a normalized reference."""
    if _HEX64.fullmatch(text):
        raise InvalidReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_docker_domain(text)
    colon = remainder.find(":")
    remote = remainder[:colon] if colon > -1 else remainder
    if remote.lower() != remote:
        raise InvalidReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase")
    return parse(f"{domain}/{remainder}")


def parse(text: str) -> ImageReference:
    """``reference.Parse``: a full reference, domain included."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidReferenceError("invalid reference format: repository name must have "
                                        "at least one component")
        if _REFERENCE.fullmatch(text.lower()):
            raise InvalidReferenceError(
                "invalid reference format: repository name must be lowercase")
        raise InvalidReferenceError(f"invalid reference format: {text!r}")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    domain_match = _ANCHORED_DOMAIN.fullmatch(name)
    if domain_match is None:
        raise InvalidReferenceError(f"invalid reference format: no registry domain in {text!r}")
    domain, path = domain_match.group(1), domain_match.group(2)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(
            f"invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None:
        validate_digest(digest)
    return ImageReference(domain, path, tag, digest)


def validate_digest(digest: str) -> None:
    """go-digest ``Digest.Validate``: a registered algorithm and its exact lowercase hex."""
    algorithm, sep, hexpart = digest.partition(":")
    if not sep or not hexpart:
        raise InvalidReferenceError(f"invalid checksum digest format: {digest}")
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise InvalidReferenceError(f"unsupported digest algorithm: {digest}")
    if not _LOWER_HEX.fullmatch(hexpart):
        raise InvalidReferenceError(f"invalid checksum digest format: {digest}")
    if len(hexpart) != DIGEST_HEX_LENGTHS[algorithm]:
        raise InvalidReferenceError(f"invalid checksum digest length: {digest}")
