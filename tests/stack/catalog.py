"""The standard set of repositories every stack test run publishes once."""

from __future__ import annotations

from dataclasses import dataclass

from tests.stack.publisher import Published, Publisher


@dataclass(frozen=True)
class Catalog:
    """What was published, by purpose.  Repository names are under ``tb/``."""

    legacy: Published  # tb/legacy:1 signed in targets by DOCKER_CONTENT_TRUST=1 docker push
    releases: Published  # tb/releases:1 signed in targets/releases (openssl RSA delegation key)
    other_delegation: Published  # tb/other:1 signed only in targets/qa
    unsigned_tag: Published  # tb/legacy:unsigned pushed without signing, repo has trust data
    no_trust_data: Published  # tb/notrust:1 in a repository with no trust data at all
    both_targets: Published  # tb/both:1 as signed in targets
    both_releases: Published  # tb/both:1 as signed in targets/releases (a different digest)


def publish_catalog(pub: Publisher) -> Catalog:
    legacy = pub.sign_legacy("tb/legacy", "1")
    releases = pub.sign_delegation("tb/releases", "1")
    other = pub.sign_delegation("tb/other", "1", role="targets/qa")
    unsigned = pub.push_unsigned("tb/legacy", "unsigned")
    no_trust = pub.push_unsigned("tb/notrust", "1")
    both_targets = pub.sign_legacy("tb/both", "1")
    both_releases = pub.sign_delegation("tb/both", "1")
    return Catalog(legacy, releases, other, unsigned, no_trust, both_targets, both_releases)
