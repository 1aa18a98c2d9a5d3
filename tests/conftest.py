"""Shared fixtures.  The local stack starts once per test run, on first use."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.notarysim.server import SimServer, TLSFiles, make_tls, serving
from tests.registrysim import RegistrySim, connect_proxy, image
from tests.registrysim import serving as registry_serving
from tests.stack.catalog import Catalog, publish_catalog
from tests.stack.publisher import Published, Publisher
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


@dataclass(frozen=True)
class GoodAndBad:
    """``tb/xgood:1`` signed (targets), ``tb/xbad:1`` pushed without trust data."""

    good: Published
    bad: Published


@pytest.fixture(scope="session")
def good_and_bad(publisher: Publisher) -> GoodAndBad:
    return GoodAndBad(publisher.sign_legacy("tb/xgood", "1"),
                      publisher.push_unsigned("tb/xbad", "1"))


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


def trust_config(tmp_path: Path, tls: TLSFiles, *hostports: str) -> Path:
    """A docker config dir (``tmp_path/docker``) trusting *tls*'s CA for each server, as
    ``tls/<host:port>/ca.crt``."""
    config = tmp_path / "docker"
    for hostport in hostports:
        (config / "tls" / hostport).mkdir(parents=True, exist_ok=True)
        (config / "tls" / hostport / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
    return config


@pytest.fixture()
def config(tmp_path: Path, sim: SimServer, tls: TLSFiles) -> Path:
    return trust_config(tmp_path, tls, sim.hostport)


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


# -- the registry of reg.example, for tests on the notary simulator ---------------------------

EXAMPLE_REGISTRIES = ("reg.example", "reg.example:5000")


@dataclass
class ExampleRegistry:
    """The registry that images named ``reg.example/…`` (and ``reg.example:5000/…``) come
    from: a :class:`RegistrySim` over TLS with a certificate for ``reg.example``, reached
    through a CONNECT proxy (``env``: ``HTTPS_PROXY``) that routes those names to it.  Its CA
    is in the test's docker config, where docker keeps a registry's CA."""

    sim: RegistrySim
    proxy: str
    ca: Path

    @property
    def env(self) -> dict[str, str]:
        return {"HTTPS_PROXY": self.proxy}

    def trust_in(self, docker_config: Path) -> Path:
        for host in EXAMPLE_REGISTRIES:
            (docker_config / "tls" / host).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.ca, docker_config / "tls" / host / "ca.crt")
        return docker_config

    def push(self, repository: str, marker: str, triggers: list[str] | None = None) -> str:
        """An image (config labelled *marker*, with *triggers*) in *repository* (its path on
        the registry: ``base`` for ``reg.example/base``); the hex of its digest, as
        ``SimRepo.sign_tag`` takes it."""
        return self.sim.push(repository, image(triggers, marker)).removeprefix("sha256:")


@pytest.fixture(scope="session")
def example_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("example-tls"), host="reg.example")


@pytest.fixture()
def example_registry(example_tls: TLSFiles, config: Path) -> Iterator[ExampleRegistry]:
    with registry_serving(RegistrySim(tls=example_tls)) as sim, \
            connect_proxy({h if ":" in h else f"{h}:443": sim.port
                           for h in EXAMPLE_REGISTRIES}) as proxy:
        registry = ExampleRegistry(sim, proxy, example_tls.ca_cert)
        registry.trust_in(config)
        yield registry
