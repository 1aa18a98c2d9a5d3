"""What a repository's trust data says: every signed tag, who signed it, and the keys.

The shape follows ``docker trust inspect``: signed tags with digest and signers
(``targets/releases`` and ``targets`` are "Repo Admin"), the delegations' keys, and the
administrative (root and targets) keys.  ``accepted`` marks the digest trustbuild would use.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from trustbuild._internal.notary.repository import ACCEPTED_ROLES, TrustedRepository
from trustbuild.errors import TrustError

ADMIN = "Repo Admin"


@dataclass(frozen=True, slots=True)
class TagSignature:
    tag: str
    digest: str
    size: int
    role: str

    @property
    def signer(self) -> str:
        return ADMIN if self.role in ACCEPTED_ROLES else self.role.removeprefix("targets/")


@dataclass(slots=True)
class RepositoryReport:
    name: str
    server: str
    signatures: list[TagSignature] = field(default_factory=list)
    accepted: dict[str, TagSignature] = field(default_factory=dict)  # tag -> what resolves
    signers: dict[str, list[str]] = field(default_factory=dict)  # delegation -> key IDs
    root_keys: list[str] = field(default_factory=list)
    repository_keys: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # role -> why it was not read

    def to_json(self) -> dict[str, object]:
        tags: dict[str, dict[str, object]] = {}
        for sig in self.signatures:
            entry = tags.setdefault(f"{sig.tag}\0{sig.digest}", {
                "SignedTag": sig.tag, "Digest": sig.digest.removeprefix("sha256:"),
                "Signers": [], "Roles": [],
                "Accepted": self.accepted.get(sig.tag) is not None
                and self.accepted[sig.tag].digest == sig.digest})
            signers, roles = entry["Signers"], entry["Roles"]
            assert isinstance(signers, list) and isinstance(roles, list)
            if sig.signer not in signers:
                signers.append(sig.signer)
            roles.append(sig.role)
        return {
            "Name": self.name,
            "SignedTags": sorted(tags.values(), key=lambda t: str(t["SignedTag"])),
            "Signers": [{"Name": n, "Keys": [{"ID": k} for k in keys]}
                        for n, keys in sorted(self.signers.items())],
            "AdministrativeKeys": [
                {"Name": "Root", "Keys": [{"ID": k} for k in self.root_keys]},
                {"Name": "Repository", "Keys": [{"ID": k} for k in self.repository_keys]}],
            "Problems": self.problems,
        }


def report(repo: TrustedRepository, name: str) -> RepositoryReport:
    assert repo.root is not None and repo.targets is not None
    out = RepositoryReport(name, repo.server)
    out.root_keys = sorted(repo.root.keys[k].canonical_id for k in repo.root.roles["root"].keyids)
    out.repository_keys = sorted(repo.root.keys[k].canonical_id
                                 for k in repo.root.roles["targets"].keyids)
    queue = deque(["targets"])
    while queue:
        role_name = queue.popleft()
        try:
            role = repo.role(role_name)
        except TrustError as exc:
            out.problems[role_name] = exc.message
            continue
        if role is None:
            continue
        paths = repo.paths_of(role_name)
        for tag, meta in sorted(role.targets.items()):
            sha = meta.sha256_hex
            if sha and any(tag.startswith(p) for p in paths):
                out.signatures.append(TagSignature(tag, f"sha256:{sha}", meta.length,
                                                   role_name))
        for delegation in role.delegations:
            keys = role.delegation_keys
            out.signers[delegation.name.removeprefix("targets/")] = sorted(
                keys[k].canonical_id for k in delegation.keyids if k in keys)
            queue.append(delegation.name)
    for tag in {s.tag for s in out.signatures}:
        try:
            target = repo.lookup(tag)
        except TrustError:
            continue
        out.accepted[tag] = TagSignature(tag, target.digest, target.size, target.role)
    return out
