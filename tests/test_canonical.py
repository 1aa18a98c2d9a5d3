"""Canonical JSON: byte-identical with what notary signs, and Go's rules at the edges."""

from __future__ import annotations

import hashlib
import json
import ssl
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.stack.catalog import Catalog
from tests.stack.services import Stack
from trustbuild._internal.notary import canonical
from trustbuild._internal.notary.keys import key_id, parse_key
from trustbuild._internal.notary.metadata import Envelope
from trustbuild.errors import CanonicalJSONError


def test_escapes_only_quote_and_backslash() -> None:
    assert canonical.encode({"a": 'q"b\\s\n\x01<&>é\u2028'}) == \
        b'{"a":"q\\"b\\\\s\n\x01<&>\xc3\xa9\xe2\x80\xa8"}'


def test_keys_sorted_by_utf8_bytes_no_whitespace() -> None:
    assert canonical.encode({"b": [1, True, None], "a": {"z": 0, "é": 1, "Z": 2}}) == \
        '{"a":{"Z":2,"z":0,"é":1},"b":[1,true,null]}'.encode()


def test_integral_floats_are_integers_other_numbers_refused() -> None:
    assert canonical.encode({"v": 3.0}) == b'{"v":3}'
    for bad in (1.5, float("inf"), 2**53, -(2**60)):
        with pytest.raises(CanonicalJSONError):
            canonical.encode({"v": bad})


def test_lone_surrogates_become_replacement_characters_like_go() -> None:
    parsed = canonical.loads(b'{"a":"\\ud800"}')
    assert canonical.encode(parsed) == '{"a":"\ufffd"}'.encode()


@pytest.mark.parametrize("doc", [b'{"a":1,"a":2}', b'{"version":1,"Version":2}',
                                 b'{"a":NaN}', b"\xff"])
def test_parsing_refuses_ambiguous_documents(doc: bytes) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical.loads(doc)


@pytest.mark.stack
@pytest.mark.parametrize("role", ["root", "targets", "snapshot", "timestamp",
                                  "targets/releases"])
def test_byte_identical_with_real_notary_files(stack: Stack, catalog: Catalog,
                                               role: str) -> None:
    """Files signed by the notary CLI (targets, releases), docker (root) and notary-server
    (snapshot, timestamp): the canonical form of "signed" is exactly the served bytes."""
    ctx = ssl.create_default_context(cafile=str(stack.notary_ca))
    url = f"{stack.notary_url}/v2/{catalog.releases.repo}/_trust/tuf/{role}.json"
    with urllib.request.urlopen(url, context=ctx) as resp:
        raw = resp.read()
    assert raw.startswith(b'{"signed":')
    served_signed = raw[len(b'{"signed":'):raw.rindex(b',"signatures":')]
    envelope = Envelope.parse(raw, role)
    assert envelope.signed_bytes == served_signed
    doc = json.loads(raw)
    keys = doc["signed"].get("keys") or doc["signed"].get("delegations", {}).get("keys", {})
    for keyid, key in keys.items():
        assert parse_key(key).keyid == keyid


@given(st.text(), st.text())
def test_key_id_written_out_is_the_canonical_encoding(keytype: str, public: str) -> None:
    body = {"keytype": keytype, "keyval": {"private": None, "public": public}}
    assert key_id(keytype, public) == hashlib.sha256(canonical.encode(body)).hexdigest()
