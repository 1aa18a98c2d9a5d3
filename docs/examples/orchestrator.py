"""A build service that checks every service's Dockerfile with one trust client (one
connection pool, each repository's trust data fetched once), refuses what is not signed,
and hands the pinned Dockerfiles to its own builders.

    python orchestrator.py SERVICES_DIR VERSION
"""

from __future__ import annotations

import sys
from pathlib import Path

import trustbuild
from trustbuild.errors import TrustbuildError


def prepare(client: trustbuild.TrustClient, service: Path, version: str) -> str | None:
    """The pinned Dockerfile of *service*, or None (with the reasons printed)."""
    try:
        report = trustbuild.check(str(service), build_args={"VERSION": version},
                                  client=client)
    except TrustbuildError as exc:  # no Dockerfile, a Dockerfile error, a bad policy…
        print(f"{service.name}: {exc}")
        return None
    for verdict in report.refused + report.unverified:
        pull = verdict.pull
        print(f"{service.name}: {pull.reference} ({pull.instruction}, line {pull.line}): "
              f"{verdict.reason}: {verdict.message}")
    if not report.ok:
        return None
    return report.pinned().text  # build this, not the original


def main(services: Path, version: str) -> int:
    client = trustbuild.trust_client(str(services))  # DOCKER_CONFIG, policy, like docker
    pinned = {s.name: prepare(client, s, version)
              for s in sorted(services.iterdir()) if s.is_dir()}
    for name, text in pinned.items():
        print(f"{name}: {'ready' if text is not None else 'refused'}")
    return 0 if all(text is not None for text in pinned.values()) else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
