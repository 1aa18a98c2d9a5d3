"""Root pinning: a repository's root must be one the policy names, not merely the first seen.

A pin lists root key IDs (the certificate key ID notary signs with, or the canonical ID docker
and the notary CLI print), root certificates, or CAs that must have issued the root
certificate.  Only the root keys that match count toward the root's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from trustbuild._internal.files import MAX_SMALL_FILE, read_bounded
from trustbuild._internal.notary.keys import PublicKey
from trustbuild._internal.notary.metadata import Root
from trustbuild._internal.notary.roots import RootPin
from trustbuild.errors import Reason, RootError


def load_certificates(paths: Sequence[Path]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in paths:
        data = read_bounded(path, limit=MAX_SMALL_FILE, error=RootError,
                            what="pinned certificate")
        try:
            certs.extend(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise RootError(f"cannot read pinned certificate {path}: {exc}") from None
    return certs


def make_pin(key_ids: Sequence[str], certs: Sequence[Path], cas: Sequence[Path],
             source: str) -> RootPin:
    pinned_certs = [c.public_bytes(Encoding.DER) for c in load_certificates(certs)]
    authorities = load_certificates(cas)
    wanted = set(key_ids)

    def pin(root: Root, leaves: Mapping[str, PublicKey]) -> Mapping[str, PublicKey]:
        kept = {kid: key for kid, key in leaves.items()
                if kid in wanted or key.canonical_id in wanted
                or _leaf_der(key) in pinned_certs or _issued_by(key, authorities)}
        if not kept:
            found = ", ".join(sorted(k.canonical_id for k in leaves.values())) or "none"
            expected = ", ".join(sorted(wanted)) or "none"
            extra = []
            if pinned_certs:
                extra.append(f"{len(pinned_certs)} pinned certificate(s)")
            if authorities:
                extra.append(f"{len(authorities)} pinned CA(s)")
            raise RootError(f"root version {root.version} is not the pinned root (policy "
                            f"{source}): expected root key IDs {expected}"
                            + (f" or {' / '.join(extra)}" if extra else "")
                            + f"; found {found}", reason=Reason.PIN_MISMATCH)
        return kept

    return pin


def narrowed(pins: Sequence[RootPin]) -> RootPin:
    """One pin out of several that must all hold: only the root keys every pin allows count
    (a project's pin narrowing the user's, say)."""
    if len(pins) == 1:
        return pins[0]

    def pin(root: Root, leaves: Mapping[str, PublicKey]) -> Mapping[str, PublicKey]:
        for each in pins:
            leaves = each(root, leaves)
        return leaves

    return pin


def _leaf_der(key: PublicKey) -> bytes | None:
    if not key.certificates:
        return None
    return key.certificates[0].public_bytes(Encoding.DER)


def _issued_by(key: PublicKey, authorities: Sequence[x509.Certificate]) -> bool:
    if not key.certificates:
        return False
    leaf = key.certificates[0]
    now = datetime.now(UTC)
    for ca in authorities:
        if not (ca.not_valid_before_utc <= now <= ca.not_valid_after_utc):
            continue
        try:
            leaf.verify_directly_issued_by(ca)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False
