"""Root trust: certificate checks and rotation (notary ``trustpinning.ValidateRoot``).

Only certificate keys listed for the root role count.  A leaf counts when its common name is
the GUN (or a ``*`` prefix of it) and it is valid now: not expired, not valid only from more
than a day ahead, no SHA-1, RSA of 2048 bits or more.  Key IDs are recomputed from the chain
re-encoded the way Go writes PEM, as notary does.  A new root must carry a threshold of the
previous root's root keys and a threshold of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from trustbuild._internal.notary.keys import PublicKey, parse_key
from trustbuild._internal.notary.metadata import RoleKeys, Root, verify_signatures
from trustbuild.errors import RootError, SignatureError

NOT_BEFORE_SLACK = timedelta(days=1)

# A hook for trust pinning (the policy layer): given a root and its valid leaves, the leaves
# the pin allows; raises RootError when it allows none.
RootPin = Callable[[Root, Mapping[str, PublicKey]], Mapping[str, PublicKey]]


@dataclass(frozen=True, slots=True)
class RootLeaves:
    """The root keys of *root* that pass the certificate checks, by recomputed key ID."""

    keys: Mapping[str, PublicKey]
    problems: tuple[str, ...]


def valid_leaves(root: Root, gun: str, now: datetime, *, check_expiry: bool = True) -> RootLeaves:
    keys: dict[str, PublicKey] = {}
    problems: list[str] = []
    for keyid in root.roles["root"].keyids:
        key = root.keys[keyid]
        problem = _leaf_problem(key, gun, now, check_expiry)
        if problem:
            problems.append(f"key {keyid[:12]}: {problem}")
            continue
        reencoded = _reencoded(key)
        keys[reencoded.keyid] = reencoded
    return RootLeaves(keys, tuple(problems))


def _leaf_problem(key: PublicKey, gun: str, now: datetime, check_expiry: bool) -> str | None:
    cert = key.certificate
    if cert is None:
        return f"{key.keytype} is not a certificate"
    if cert.bundle_problem:
        return cert.bundle_problem
    name = cert.common_name
    if not (name == gun or (name.endswith("*") and gun.startswith(name[:-1]))):
        return f"common name {name!r} is not the repository {gun!r}"
    if cert.signature_problem:
        return cert.signature_problem
    if check_expiry:
        if now > cert.not_after:
            return f"certificate expired at {cert.not_after:%Y-%m-%d %H:%M:%S} UTC"
        if cert.not_before > now + NOT_BEFORE_SLACK:
            return f"certificate not valid before {cert.not_before:%Y-%m-%d %H:%M:%S} UTC"
    return None


def _reencoded(key: PublicKey) -> PublicKey:
    assert key.certificate is not None
    public = key.certificate.reencoded_b64
    if public == key.public_b64:
        return key
    return parse_key({"keytype": key.keytype, "keyval": {"private": None, "public": public}})


def check_root(root: Root, gun: str, now: datetime, *, previous: Root | None = None,
               pin: RootPin | None = None) -> None:
    """Raise :class:`RootError` unless *root* may be trusted (after *previous*, if given).

    Expiry of the root file itself is the caller's business: intermediate roots of a rotation
    may have expired."""
    leaves = valid_leaves(root, gun, now)
    if not leaves.keys:
        detail = "; ".join(leaves.problems) or "no root keys"
        raise RootError("could not validate the path to a trusted root: unable to retrieve "
                        f"valid leaf certificates ({detail})")
    keys = pin(root, leaves.keys) if pin is not None else leaves.keys
    if previous is not None:
        old = valid_leaves(previous, gun, now, check_expiry=False)
        try:
            verify_signatures(root, old.keys, RoleKeys(tuple(old.keys),
                                                       previous.roles["root"].threshold))
        except SignatureError as exc:
            raise RootError(f"could not rotate trust to a new trusted root: root version "
                            f"{root.version} is not signed by the keys of version "
                            f"{previous.version} ({exc.message}); trusted root keys "
                            f"{_ids(old.keys)}, the server's root keys {_ids(leaves.keys)}"
                            ) from None
        if root.version < previous.version:
            raise RootError(f"root version {root.version} is lower than version "
                            f"{previous.version} seen before")
    try:
        verify_signatures(root, keys, RoleKeys(tuple(keys), root.roles["root"].threshold))
    except SignatureError as exc:
        raise RootError(f"root version {root.version} is not signed by its own root keys "
                        f"({exc.message})") from None


def _ids(keys: Mapping[str, PublicKey]) -> str:
    return ", ".join(sorted(k.canonical_id for k in keys.values())) or "none"
