"""Shared fixtures.  The local stack starts once per test run, on first use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack.catalog import Catalog, publish_catalog
from tests.stack.publisher import Publisher
from tests.stack.services import Stack, StackError, running_stack

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        with running_stack() as running:
            yield running
    except StackError as exc:
        # A missing service is a failure, never a silent skip.
        pytest.fail(f"the local trust stack could not start: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def publisher(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Publisher:
    return Publisher(stack, tmp_path_factory.mktemp("publisher"))


@pytest.fixture(scope="session")
def catalog(publisher: Publisher) -> Catalog:
    return publish_catalog(publisher)


@pytest.fixture()
def consumer_config(stack: Stack, tmp_path: Path) -> Path:
    """A fresh docker config dir (empty trust cache) that trusts the stack's TLS certificate."""
    return stack.docker_config(tmp_path / "consumer-docker")
