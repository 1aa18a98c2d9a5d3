"""Shared fixtures.  The local stack starts once per test run, on first use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.notarysim.server import SimServer, TLSFiles, make_tls, serving
from tests.stack.catalog import Catalog, publish_catalog
from tests.stack.publisher import Publisher
from tests.stack.services import Stack, StackError, running_stack
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.notary.transport import Transport, TransportConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
Client = Callable[..., TrustClient]


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


# -- the notary simulator (tests/notarysim) ---------------------------------------------

@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("simtls"))


@pytest.fixture()
def sim(tls: TLSFiles) -> Iterator[SimServer]:
    with serving(SimServer(tls)) as server:
        yield server


@pytest.fixture()
def config(tmp_path: Path, sim: SimServer, tls: TLSFiles) -> Path:
    cfg = tmp_path / "docker"
    (cfg / "tls" / sim.hostport).mkdir(parents=True)
    (cfg / "tls" / sim.hostport / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
    return cfg


@pytest.fixture()
def client(config: Path, sim: SimServer) -> Client:
    def make(**kw: Any) -> TrustClient:
        timeout = kw.pop("read_timeout", 5.0)
        transport = kw.pop("transport", None) or Transport(
            TransportConfig(docker_config=config, read_timeout=timeout, backoff=0.01),
            credentials=kw.pop("credentials", lambda registry: None))
        env = {"DOCKER_CONTENT_TRUST_SERVER": sim.url}
        return TrustClient(docker_config=config, env=kw.pop("env", env), transport=transport,
                           **kw)
    return make
