"""The Notary client against the real notary-server, registry and dockerd.

Every digest is compared with what the reference clients say: ``notary lookup`` and a
content-trust ``docker pull``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stack.catalog import Catalog
from tests.stack.publisher import Published, Publisher
from tests.stack.services import DOCKER_CLI, Stack, run
from trustbuild._internal.notary.client import TrustClient
from trustbuild.errors import NoTrustData

pytestmark = pytest.mark.stack


def client(stack: Stack, config: Path) -> TrustClient:
    return TrustClient(docker_config=config, env=stack.env(config))


def docker_pull_digest(stack: Stack, config: Path, ref: str) -> str:
    env = {**stack.env(config), "DOCKER_CONTENT_TRUST": "1"}
    out = run([DOCKER_CLI, "pull", ref], env).stdout
    line = next(x for x in out.splitlines() if x.startswith("Status:") or "@sha256:" in x)
    return "sha256:" + line.split("@sha256:", 1)[1].split()[0]


def notary_lookup_digest(publisher: Publisher, repo: str, tag: str) -> str:
    return publisher.notary("lookup", repo, tag).split()[1]


@pytest.mark.parametrize(("which", "role"), [
    ("legacy", "targets"), ("releases", "targets/releases"), ("both_releases",
                                                               "targets/releases")])
def test_signed_tags_match_the_reference_clients(stack: Stack, catalog: Catalog,
                                                 publisher: Publisher, consumer_config: Path,
                                                 which: str, role: str) -> None:
    image: Published = getattr(catalog, which)
    got = client(stack, consumer_config).resolve(image.ref)
    assert (got.digest, got.role, got.size) == (image.digest, role, image.size)
    assert got.digest == docker_pull_digest(stack, consumer_config, image.ref)
    if which != "both_releases":  # notary lookup has no role order: it answers from targets
        assert got.digest == notary_lookup_digest(publisher, image.repo, image.tag)


@pytest.mark.parametrize("which", ["other_delegation", "unsigned_tag", "no_trust_data"])
def test_unsigned_is_no_trust_data(stack: Stack, catalog: Catalog, consumer_config: Path,
                                   which: str) -> None:
    image: Published = getattr(catalog, which)
    with pytest.raises(NoTrustData) as caught:
        client(stack, consumer_config).resolve(image.ref)
    assert f"No trust data for {image.tag}" in str(caught.value)
    assert image.repo in str(caught.value)


def test_releases_wins_like_docker(stack: Stack, catalog: Catalog, consumer_config: Path) -> None:
    assert catalog.both_targets.digest != catalog.both_releases.digest
    got = client(stack, consumer_config).resolve(catalog.both_targets.ref)
    assert got.digest == catalog.both_releases.digest
    assert got.digest == docker_pull_digest(stack, consumer_config, catalog.both_targets.ref)


def test_root_rotation_after_the_old_root_was_cached(stack: Stack, publisher: Publisher,
                                                     consumer_config: Path) -> None:
    image = publisher.sign_legacy("tb/rotated", "1")
    assert client(stack, consumer_config).resolve(image.ref).digest == image.digest
    root_file = consumer_config / "trust/tuf" / image.repo / "metadata/root.json"
    before = json.loads(root_file.read_bytes())["signed"]["version"]
    publisher.rotate_root("tb/rotated")
    got = client(stack, consumer_config).resolve(image.ref)
    assert got.digest == image.digest
    assert json.loads(root_file.read_bytes())["signed"]["version"] > before
    assert got.digest == docker_pull_digest(stack, consumer_config, image.ref)
    assert got.digest == notary_lookup_digest(publisher, image.repo, image.tag)


def test_removed_releases_delegation_leaves_legacy_tags(stack: Stack, publisher: Publisher,
                                                        consumer_config: Path) -> None:
    legacy = publisher.sign_legacy("tb/removed", "1")
    releases = publisher.sign_delegation("tb/removed", "1")
    assert client(stack, consumer_config).resolve(legacy.ref).digest == releases.digest
    publisher.remove_delegation("tb/removed", "targets/releases")
    got = client(stack, consumer_config).resolve(legacy.ref)
    assert (got.digest, got.role) == (legacy.digest, "targets")
    assert got.digest == notary_lookup_digest(publisher, legacy.repo, legacy.tag)
    assert got.digest == docker_pull_digest(stack, consumer_config, legacy.ref)


def test_reads_the_cache_docker_wrote(stack: Stack, catalog: Catalog,
                                      consumer_config: Path) -> None:
    """docker pull populated the trust cache first; trustbuild takes its root from there."""
    docker_pull_digest(stack, consumer_config, catalog.releases.ref)
    cached = consumer_config / "trust/tuf" / catalog.releases.repo / "metadata/root.json"
    before = cached.read_bytes()
    assert client(stack, consumer_config).resolve(catalog.releases.ref).digest == \
        catalog.releases.digest
    assert cached.read_bytes() == before
