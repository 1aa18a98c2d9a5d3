"""The pinned Dockerfile: the same bytes, with each pulled image reference pinned to a digest.

Only the reference tokens change (to ``name:tag@sha256:…``); comments, spacing, flags, ``AS``
names, line endings and the escape character stay as they were.  A reference written through
build args is replaced by the literal pinned reference in that instruction, since the build
args are known when the build runs.  References that already carry a digest keep it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trustbuild._internal.dockerfile.pulls import (
    POLICY_FRONTEND,
    ImagePull,
    LiteralBase,
    detect_syntax,
)
from trustbuild._internal.reference import parse_normalized, validate_digest
from trustbuild.errors import PinError


@dataclass(frozen=True, slots=True)
class Replacement:
    start: int
    end: int
    old: str
    new: str
    line: int


@dataclass(frozen=True, slots=True)
class PinnedDockerfile:
    text: str
    replacements: tuple[Replacement, ...]
    # Build args the build must be given for the pins to hold (``BUILDKIT_SYNTAX``).
    build_args: Mapping[str, str]


def pinned_reference(expanded: str, digest: str) -> str:
    """``name:tag@digest`` for what BuildKit parsed; ``latest`` made explicit."""
    validate_digest(digest)
    ref = parse_normalized(expanded)
    if ref.digest is not None:
        return expanded
    return f"{expanded}{'' if ref.tag else ':latest'}@{digest}"


def pin(text: str, pulls: Sequence[ImagePull], digests: Mapping[str, str],
        literal_bases: Sequence[LiteralBase] = ()) -> PinnedDockerfile:
    """Rewrite *text* so that each pull uses ``digests[str(pull.reference)]``, and each
    ARG-driven stage reference names its stage literally.

    Raises :class:`PinError` when a pull has no digest, or cannot be pinned in place."""
    by_span: dict[tuple[int, int], Replacement] = {}
    build_args: dict[str, str] = {}
    for base in literal_bases:
        _add(by_span, Replacement(base.span[0], base.span[1], base.written, base.literal,
                                  base.line), base.written)
    frontend = None
    for pull in pulls:
        if pull.instruction == POLICY_FRONTEND:
            frontend = pull.expanded if pull.reference.digest is not None else \
                pinned_reference(pull.expanded, _digest(digests, pull))
            for replacement in _frontend_replacements(text, frontend):
                _add(by_span, replacement, replacement.old)
            continue
        if pull.reference.digest is not None:
            continue  # already pinned by its author: BuildKit fetches that digest
        new = pinned_reference(pull.expanded, _digest(digests, pull))
        if pull.instruction == "BUILDKIT_SYNTAX":
            build_args["BUILDKIT_SYNTAX"] = new
            continue
        if pull.span is None:
            raise PinError(_unpinnable(pull))
        start, end = pull.span
        _add(by_span, Replacement(start, end, text[start:end], new, pull.line), pull.written)
    ordered = sorted(by_span.values(), key=lambda r: r.start)
    pieces: list[str] = []
    position = 0
    for replacement in ordered:
        pieces.append(text[position:replacement.start])
        pieces.append(replacement.new)
        position = replacement.end
    pieces.append(text[position:])
    pinned = "".join(pieces)
    if frontend is not None:
        _check_frontend(pinned, frontend)
    return PinnedDockerfile(pinned, tuple(ordered), build_args)


def _digest(digests: Mapping[str, str], pull: ImagePull) -> str:
    digest = digests.get(str(pull.reference))
    if digest is None:
        raise PinError(f"no digest for {pull.reference} (line {pull.line})")
    return digest


def _check_frontend(pinned: str, frontend: str) -> None:
    """Every BuildKit (current rules and 0.8's) must find the policy's frontend as the
    pinned copy's syntax: a `# syntax=` line that only some of them see (after a `#!` line
    or another directive) would leave the others on a frontend nobody checked."""
    for legacy in (False, True):
        found = detect_syntax(pinned, legacy=legacy)
        if found is None or found[0] != frontend:
            raise PinError("the file's `# syntax=` line is where BuildKit versions disagree "
                           "about it (after a `#!` line or another directive): put it on "
                           "the first line, so the policy's frontend can replace it for "
                           "every builder")


def _frontend_replacements(text: str, pinned: str) -> list[Replacement]:
    """The policy's frontend in the pinned copy: every `# syntax=` value any BuildKit would
    take (current rules and 0.8's) becomes the pinned frontend; without one, a
    `# syntax=` line goes first, in place of a byte-order mark (BuildKit 0.8 would not see
    a directive after one, and every reader drops the mark anyway)."""
    found = {d[2]: d[1] for d in (detect_syntax(text), detect_syntax(text, legacy=True)) if d}
    bom = 1 if text.startswith("\ufeff") else 0
    if not found:
        return [Replacement(0, bom, text[:bom], f"# syntax={pinned}\n", 1)]
    # A byte-order mark hides the line from BuildKit 0.8 (every reader drops the mark).
    dropped = [Replacement(0, 1, text[:1], "", 1)] if bom else []
    return dropped + [Replacement(start, end, text[start:end], pinned, line)
                      for (start, end), line in found.items()]


def _add(by_span: dict[tuple[int, int], Replacement], replacement: Replacement,
         written: str) -> None:
    span = (replacement.start, replacement.end)
    known = by_span.get(span)
    if known is not None and known.new != replacement.new:
        raise PinError(f"line {replacement.line}: {written!r} means {known.new} on one "
                       f"platform and {replacement.new} on another; build the platforms "
                       "separately")
    by_span[span] = replacement


def _unpinnable(pull: ImagePull) -> str:
    if not pull.written:
        return (f"{pull.reference} is pulled by {pull.instruction} but not written in the "
                "Dockerfile, so it cannot be pinned there")
    return (f"line {pull.line}: {pull.written!r} cannot be pinned in place (it is split by a "
            "line continuation or written with quotes or escapes); write it as one plain word")
