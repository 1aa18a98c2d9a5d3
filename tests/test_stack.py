"""The local stack and its publisher behave like the real thing, checked with the real clients.

These guard the test data every other stack test relies on: if the publisher signed the wrong
role or digest, the trustbuild tests against it would prove nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack.catalog import Catalog
from tests.stack.publisher import Published, Publisher
from tests.stack.services import DOCKER_CLI, Stack, run

pytestmark = pytest.mark.stack


def _lookup(pub: Publisher, image: Published) -> str:
    return pub.notary("lookup", image.repo, image.tag, check=False)


def _trusted_pull(stack: Stack, config: Path, ref: str) -> tuple[int, str]:
    env = {**stack.env(config), "DOCKER_CONTENT_TRUST": "1"}
    result = run([DOCKER_CLI, "pull", ref], env, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("which", ["legacy", "releases", "both_releases"])
def test_signed_tags_pull_with_content_trust(stack: Stack, catalog: Catalog,
                                             consumer_config: Path, which: str) -> None:
    image: Published = getattr(catalog, which)
    code, out = _trusted_pull(stack, consumer_config, image.ref)
    assert code == 0, out
    assert f"{image.repo}@{image.digest}" in out


@pytest.mark.parametrize("which", ["legacy", "releases", "other_delegation", "both_targets"])
def test_notary_lookup_sees_the_signed_digest(publisher: Publisher, catalog: Catalog,
                                              which: str) -> None:
    image: Published = getattr(catalog, which)
    line = _lookup(publisher, image).split()
    assert line[:3] == [image.tag, image.digest, str(image.size)]


def test_releases_role_is_what_notary_reports(publisher: Publisher, catalog: Catalog) -> None:
    listing = publisher.notary("list", catalog.releases.repo)
    row = next(r.split() for r in listing.splitlines() if r.startswith(catalog.releases.tag + " "))
    assert row[-1] == "targets/releases"
    assert "sha256:" + row[1] == catalog.releases.digest


@pytest.mark.parametrize(("which", "message"), [
    ("other_delegation", "No trust data for 1"),
    ("unsigned_tag", "No valid trust data for unsigned"),
    ("no_trust_data", "does not have trust data for"),
])
def test_unsigned_images_are_refused_by_docker(stack: Stack, catalog: Catalog,
                                               consumer_config: Path, which: str,
                                               message: str) -> None:
    image: Published = getattr(catalog, which)
    code, out = _trusted_pull(stack, consumer_config, image.ref)
    assert code != 0
    assert message in out


def test_published_image_runs(stack: Stack, catalog: Catalog, publisher: Publisher) -> None:
    out = publisher.docker("run", "--rm", catalog.legacy.ref, "cat", "/etc/tb-image")
    assert out.strip() == catalog.legacy.ref


def test_buildkit_runs_steps_in_the_stack(stack: Stack, catalog: Catalog, publisher: Publisher,
                                          tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {catalog.releases.repo}@{catalog.releases.digest}\nRUN echo built > /built\n")
    env = {**publisher.env, "DOCKER_BUILDKIT": "1"}
    run([DOCKER_CLI, "build", "-t", "tb-stack/buildkit", str(tmp_path)], env)
    assert publisher.docker("run", "--rm", "tb-stack/buildkit", "cat", "/built").strip() == "built"
