"""Canonical JSON exactly as notary's verifier produces it (docker/go ``MarshalCanonical``).

Notary verifies a signature by decoding ``signed`` into a generic map (every number a float64)
and re-encoding it canonically: keys sorted by UTF-8 bytes, no whitespace, only ``"`` and ``\\``
escaped (every other character written raw), integral numbers as integers, anything else an
error.  Parsing here is stricter than Go's: duplicate keys are rejected, and so are keys equal
but for case where one is a metadata field name (Go's case-insensitive struct decoding would
let them shadow each other).  Map keys such as tag names are Go map keys, compared exactly:
``v1`` and ``V1`` are two tags.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from trustbuild.errors import CanonicalJSONError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_EXACT_FLOAT_LIMIT = 2**53
# Notary's own files nest 6 levels; a target's "custom" data can add some.  Go's decoder
# stops at 10000, Python's recursion limit is about 1000 frames.
MAX_DEPTH = 100

# The field names of notary's metadata structs (tuf/data), which Go matches ignoring case.
FIELD_NAMES = frozenset({
    "signed", "signatures", "_type", "version", "expires", "keys", "roles", "threshold",
    "keyids", "targets", "meta", "hashes", "length", "consistent_snapshot", "delegations",
    "name", "paths", "path_hash_prefixes", "sig", "method", "keytype", "keyval", "public",
    "private", "custom", "keyid", "sha256", "sha512"})


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalJSONError(f"duplicate key {key!r}")
            seen.add(key)
    folded: dict[str, str] = {}
    for key in obj:
        fold = key.casefold()
        if fold in FIELD_NAMES and folded.setdefault(fold, key) != key:
            raise CanonicalJSONError(f"duplicate key {key!r} (field names must differ beyond "
                                     f"case: {folded[fold]!r})")
    return obj


def _reject_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not valid in signed metadata")


def loads(data: bytes) -> Any:
    try:
        value = json.loads(data, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise CanonicalJSONError(f"nested more than {MAX_DEPTH} levels deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, CanonicalJSONError):
            raise
        raise CanonicalJSONError(f"not valid JSON: {exc}") from None
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    """At most MAX_DEPTH levels of arrays and objects, so that encoding (which recurses)
    cannot run out of stack, whichever thread does it."""
    containers = [value] if isinstance(value, dict | list) else []
    for _ in range(MAX_DEPTH):
        containers = [child for item in containers
                      for child in (item.values() if isinstance(item, dict) else item)
                      if isinstance(child, dict | list)]
        if not containers:
            return
    raise CanonicalJSONError(f"nested more than {MAX_DEPTH} levels deep")


def encode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    if value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, int | float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(string(value))
    elif isinstance(value, list):
        out.append(b"[")
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, dict):
        out.append(b"{")
        items = sorted(value.items(), key=lambda kv: _utf8(kv[0]))
        for i, (key, item) in enumerate(items):
            if i:
                out.append(b",")
            out.append(string(key))
            out.append(b":")
            _encode(item, out)
        out.append(b"}")
    else:
        raise CanonicalJSONError(f"cannot encode {type(value).__name__}")


def _number(value: float) -> bytes:
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise CanonicalJSONError(f"non-integral number {value!r}")
    if abs(value) >= _EXACT_FLOAT_LIMIT:
        # Go decodes into float64: beyond 2**53 the value it signs is not this one.
        raise CanonicalJSONError(f"number {value!r} is too large to be exact")
    return str(int(value)).encode()


def _utf8(text: str) -> bytes:
    return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def string(text: str) -> bytes:
    """A JSON string as the canonical encoding writes it."""
    return b'"' + _utf8(text).replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
