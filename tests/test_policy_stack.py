"""The trust policy against the real notary-server(s), registry and dockerd."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.cli import entry_point
from tests.stack.catalog import Catalog
from tests.stack.publisher import Publisher
from tests.stack.services import DOCKER_CLI, Stack, extra_notary
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.notary.keys import parse_key
from trustbuild._internal.policy import load
from trustbuild.errors import RootError

pytestmark = pytest.mark.stack


def trustbuild(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([entry_point(), *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def root_key_ids(stack: Stack, gun: str, notary_url: str | None = None,
                 ca: Path | None = None) -> list[str]:
    """The canonical IDs of the root keys the server's current root lists."""
    ctx = ssl.create_default_context(cafile=str(ca or stack.notary_ca))
    url = f"{notary_url or stack.notary_url}/v2/{gun}/_trust/tuf/root.json"
    with urllib.request.urlopen(url, context=ctx) as resp:
        signed = json.loads(resp.read())["signed"]
    return [parse_key(signed["keys"][k]).canonical_id for k in signed["roles"]["root"]["keyids"]]


def pinned_client(stack: Stack, config: Path, tmp_path: Path, gun: str,
                  ids: list[str]) -> TrustClient:
    policy = tmp_path / f"pin-{len(ids)}-{ids[0][:6]}.toml"
    policy.write_text(f"[[repository]]\nmatch = '{gun}'\nroot_keys = {json.dumps(ids)}\n")
    env = stack.env(config)
    return TrustClient(docker_config=config, env=env, policy=load(config=str(policy), env=env))


def test_reinitialised_repository_is_refused_when_pinned(stack: Stack, publisher: Publisher,
                                                         consumer_config: Path,
                                                         tmp_path: Path) -> None:
    image = publisher.sign_legacy("tb/reinit", "1")
    old_ids = root_key_ids(stack, image.repo)
    client = pinned_client(stack, consumer_config, tmp_path, image.repo, old_ids)
    assert client.resolve(image.ref).digest == image.digest
    # Someone with access to the server deletes the trust data and starts over: a new root,
    # not a rotation signed by the old keys.
    publisher.notary("delete", image.repo, "--remote")
    intruder = Publisher(stack, tmp_path / "intruder")
    forged = intruder.sign_legacy("tb/reinit", "1")
    new_ids = root_key_ids(stack, image.repo)
    assert set(new_ids).isdisjoint(old_ids)
    for config in (consumer_config, stack.docker_config(tmp_path / "fresh-consumer")):
        with pytest.raises(RootError) as caught:
            pinned_client(stack, config, tmp_path, image.repo, old_ids).resolve(forged.ref)
        message = str(caught.value)
        assert old_ids[0] in message and new_ids[0] in message


def test_honest_rotation_is_accepted_where_the_pin_allows(stack: Stack, publisher: Publisher,
                                                          consumer_config: Path,
                                                          tmp_path: Path) -> None:
    image = publisher.sign_legacy("tb/pinrotate", "1")
    old_ids = root_key_ids(stack, image.repo)
    assert pinned_client(stack, consumer_config, tmp_path, image.repo, old_ids
                         ).resolve(image.ref).digest == image.digest
    publisher.rotate_root("tb/pinrotate")
    new_ids = root_key_ids(stack, image.repo)
    with pytest.raises(RootError, match="not the pinned root"):
        pinned_client(stack, consumer_config, tmp_path, image.repo, old_ids).resolve(image.ref)
    both = pinned_client(stack, consumer_config, tmp_path, image.repo, old_ids + new_ids)
    assert both.resolve(image.ref).digest == image.digest


def test_required_signers(stack: Stack, publisher: Publisher, consumer_config: Path,
                          tmp_path: Path) -> None:
    one = publisher.sign_delegation("tb/twosign", "one")
    both = publisher.sign_delegation("tb/twosign", "both")
    publisher.sign_delegation("tb/twosign", "both", role="targets/qa", image=both)
    diff = publisher.sign_delegation("tb/twosign", "diff")
    publisher.sign_delegation("tb/twosign", "diff", role="targets/qa")
    policy = tmp_path / "signers.toml"
    policy.write_text(f"[[repository]]\nmatch = '{one.repo}'\nsigners = ['releases', 'qa']\n")
    env = stack.env(consumer_config)
    results = {}
    for image in (one, both, diff):
        ctx = tmp_path / image.tag
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {image.ref}\n")
        results[image.tag] = trustbuild(["check", "--config", str(policy), "--format", "json",
                                         str(ctx)], env)
    assert results["one"].returncode == 4
    assert "targets/qa has not signed one" in results["one"].stdout
    assert results["both"].returncode == 0, results["both"].stderr
    assert json.loads(results["both"].stdout)["images"][0]["digest"] == both.digest
    assert results["diff"].returncode == 4
    assert "one digest from every signer" in results["diff"].stdout


def test_a_trust_server_and_ca_per_registry(stack: Stack, catalog: Catalog,
                                            tmp_path: Path) -> None:
    port = stack.registry.rsplit(":", 1)[1]
    with extra_notary(stack, "second-notary") as second:
        other = Publisher(stack, tmp_path / "second-publisher", notary_url=second.url,
                          notary_ca=second.ca)
        foreign = other.sign_legacy(f"localhost:{port}/tb/second", "1")
        config = tmp_path / "consumer"
        config.mkdir()
        env = {k: v for k, v in stack.env(config).items()
               if k != "DOCKER_CONTENT_TRUST_SERVER"}
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {catalog.legacy.ref}\n"
                                        f"COPY --from={foreign.ref} /etc/tb-image /second\n")
        policy = ctx / ".trustbuild.toml"
        rules = (f"[[server]]\nregistry = '{stack.registry}'\nurl = '{stack.notary_url}'\n"
                 f"ca = '{{first}}'\n"
                 f"[[server]]\nregistry = 'localhost:{port}'\nurl = '{second.url}'\n"
                 f"ca = '{{second}}'\n")
        policy.write_text(rules.format(first=stack.notary_ca, second=second.ca))
        # The build context is untrusted: its servers and CAs apply only when the user's own
        # policy says project policies are trusted.
        env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
        ignored = trustbuild(["check", "--format", "json", str(ctx)], env)
        assert ignored.returncode == 5, ignored.stdout + ignored.stderr
        assert f"{policy}: server[0]" in ignored.stderr
        user = tmp_path / "xdg" / "trustbuild" / "config.toml"
        user.parent.mkdir(parents=True)
        user.write_text("[trust]\nproject_policy = 'trusted'\n")
        result = trustbuild(["check", "--format", "json", str(ctx)], env)
        assert result.returncode == 0, result.stdout + result.stderr
        images = {i["reference"]: i for i in json.loads(result.stdout)["images"]}
        assert images[catalog.legacy.ref]["digest"] == catalog.legacy.digest
        assert images[catalog.legacy.ref]["server"] == stack.notary_hostport
        assert images[foreign.ref]["digest"] == foreign.digest
        assert images[foreign.ref]["server"] == second.hostport
        shown = trustbuild(["policy", "show", "--context", str(ctx), foreign.ref], env)
        assert second.url in shown.stdout and str(policy) in shown.stdout
        # each server's CA is used for its own server only: swapped, both fail TLS
        policy.write_text(rules.format(first=second.ca, second=stack.notary_ca))
        swapped = trustbuild(["check", "--format", "json", str(ctx)], env)
        assert swapped.returncode == 5
        statuses = {i["status"] for i in json.loads(swapped.stdout)["images"]}
        assert statuses == {"error"}
        assert "certificate verify failed" in swapped.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("[trust]\nstrict = true\n", "unknown key trust.strict"),
    ("[trust]\noffline = 'yes'\n", "trust.offline must be true or false"),
    ("[[repository]]\nmatch = 'reg/{a,b}'\n", "bad glob"),
    (None, "cannot read the policy file"),
])
def test_bad_policy_files_build_nothing(stack: Stack, catalog: Catalog, consumer_config: Path,
                                        tmp_path: Path, text: str | None, message: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {catalog.legacy.ref}\n")
    config = tmp_path / "policy.toml"
    if text is not None:
        config.write_text(text)
    calls = tmp_path / "calls"
    shim = tmp_path / "docker-shim"
    shim.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\nexec {DOCKER_CLI} \"$@\"\n")
    shim.chmod(0o755)
    env = {**stack.env(consumer_config), "TRUSTBUILD_DOCKER": str(shim), "DOCKER_BUILDKIT": "1"}
    result = trustbuild(["build", "--config", str(config), "-t", "tbtest/policy", str(ctx)], env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(config) in lines[0]
    assert not calls.exists(), "docker was started"
