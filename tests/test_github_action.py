"""The GitHub Action (action.yml): every step run here as the Actions runner runs it
(tests/github_action.py), against the real local stack, with trustbuild installed the way the
action installs it (from the action's own checkout)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.checkout import ROOT, copy_checkout
from tests.github_action import ActionRun, expressions, load, run_action
from tests.stack.catalog import Catalog
from tests.stack.services import Stack

GUIDE = ROOT / "docs" / "guide.md"


@pytest.fixture(scope="module")
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action's checkout, as the runner makes it for `uses: owner/trustbuild@ref`."""
    return copy_checkout(tmp_path_factory.mktemp("actions") / "trustbuild")


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One job's RUNNER_TEMP: the action runs several times in it, as in a job that checks
    several Dockerfiles."""
    return tmp_path_factory.mktemp("runner-temp")


def job_env(stack: Stack, docker_config: Path, **extra: str) -> dict[str, str]:
    """A job's environment: no trust server and no CA unless the test adds them."""
    env = stack.env(docker_config)
    del env["DOCKER_CONTENT_TRUST_SERVER"]
    env["DOCKER_BUILDKIT"] = "1"
    env.update(extra)
    return env


def run(action_path: Path, runner_temp: Path, workspace: Path, env: dict[str, str],
        **inputs: str) -> ActionRun:
    return run_action(action_path, {k.replace("_", "-"): v for k, v in inputs.items()},
                      env=env, workspace=workspace, runner_temp=runner_temp)


# -- the action's definition ----------------------------------------------------------------

def test_scripts_receive_inputs_only_through_env() -> None:
    """A build arg or a secret can never become shell code: no expression in any `run:`."""
    for step in load(ROOT)["runs"]["steps"]:
        assert expressions(step["run"]) == [], step["name"]
        assert all(name.isupper() for name in step.get("env", {})), step["name"]


def test_every_input_and_output_is_described_and_documented() -> None:
    action = load(ROOT)
    guide = GUIDE.read_text()
    for kind in ("inputs", "outputs"):
        for name, spec in action[kind].items():
            assert spec.get("description"), f"{kind}.{name} has no description"
            assert f"| `{name}` |" in guide, f"docs/guide.md does not document {kind}.{name}"


# -- the action on the real stack --------------------------------------------------------------

@pytest.mark.stack
def test_signed_image_passes_with_ca_from_an_input(stack: Stack, catalog: Catalog,
                                                   action_path: Path, runner_temp: Path,
                                                   tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "app").mkdir(parents=True)
    (workspace / "app" / "build.Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE} AS base\nRUN true\n\n"
        f"FROM {catalog.unsigned_tag.ref} AS unused\nRUN true\n")
    docker_config = tmp_path / "docker-config"  # empty: the CA comes from the input
    result = run(action_path, runner_temp, workspace, job_env(stack, docker_config),
                 path="app", dockerfile="app/build.Dockerfile",
                 build_args=f"BASE={catalog.releases.ref}\nUNUSED=1\n",
                 extra_args="--target=base\n-v", format="json",
                 output_file="reports/trust.json", trust_server=stack.notary_url,
                 trust_server_ca=stack.notary_ca.read_text())

    assert result.code == 0, result.log
    assert result.outputs == {"exit-code": "0", "report": "reports/trust.json"}
    ca = docker_config / "tls" / stack.notary_hostport / "ca.crt"
    assert ca.read_text().strip() == stack.notary_ca.read_text().strip()
    report = json.loads((workspace / "reports" / "trust.json").read_text())
    # --target=base arrived as its own argument: the unsigned stage is not pulled
    assert [(i["reference"], i["status"]) for i in report["images"]] == \
        [(catalog.releases.ref, "trusted")]
    assert report["images"][0]["digest"].endswith(catalog.releases.digest.split(":")[1])
    assert "trusted" in result.steps[-1].stdout  # the report is in the log too


@pytest.mark.stack
def test_refused_image_fails_the_step_with_exit_4(stack: Stack, catalog: Catalog,
                                                  action_path: Path, runner_temp: Path,
                                                  tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "Dockerfile").write_text(f"FROM {catalog.unsigned_tag.ref}\n")
    env = job_env(stack, tmp_path / "docker-config",
                  DOCKER_CONTENT_TRUST_SERVER=stack.notary_url)
    result = run(action_path, runner_temp, workspace, env,
                 trust_server_ca=stack.notary_ca.read_text())

    assert result.code == 4, result.log
    assert result.outputs == {"exit-code": "4", "report": ""}
    assert [s.name for s in result.steps][-1] == "trustbuild check"
    assert f"No trust data for {catalog.unsigned_tag.tag}" in result.log
    assert "::error title=trustbuild::an image the build pulls is not signed" in result.log


@pytest.mark.stack
def test_unreadable_dockerfile_is_exit_3_with_json_on_stdout(stack: Stack, catalog: Catalog,
                                                            action_path: Path,
                                                            runner_temp: Path,
                                                            tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\n")  # BASE not given
    env = job_env(stack, stack.docker_config(tmp_path / "docker-config"),
                  DOCKER_CONTENT_TRUST_SERVER=stack.notary_url)
    result = run(action_path, runner_temp, workspace, env, format="json",
                 output_file="trust.json")

    assert result.code == 3, result.log
    assert result.outputs["exit-code"] == "3"
    assert json.loads((workspace / "trust.json").read_text())  # one JSON document, even so


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
CA_STEP = {"Trust the notary server's CA"}


@pytest.mark.parametrize(("server", "ca", "placed", "message"), [
    ("https://notary.example.com:4443/", PEM, "notary.example.com:4443", None),
    ("https://notary.example.com", PEM, "notary.example.com", None),
    ("https://notary.example.com", "", None, None),  # no CA: nothing to do
    ("", PEM, None, "trust-server-ca needs trust-server"),
    ("http://notary.example.com", PEM, None, "got 'http://notary.example.com'"),
    ("https://notary.example.com", "not a certificate", None, "is not a PEM certificate"),
])
def test_ca_is_written_only_where_docker_and_trustbuild_read_it(
        server: str, ca: str, placed: str | None, message: str | None, tmp_path: Path,
        runner_temp: Path) -> None:
    """The CA step alone (no install, no stack)."""
    home = tmp_path / "home"
    home.mkdir()
    result = run_action(ROOT, {"trust-server": server, "trust-server-ca": ca},
                        env={"PATH": "/usr/bin:/bin", "HOME": str(home)}, workspace=tmp_path,
                        runner_temp=runner_temp, only=CA_STEP)
    written = sorted(p.relative_to(home) for p in home.rglob("ca.crt"))
    if message is None:
        assert result.code == 0, result.log
        assert written == ([Path(".docker/tls", placed, "ca.crt")] if placed else [])
        if placed:
            assert (home / written[0]).read_text() == ca + "\n"
    else:
        assert result.code == 2, result.log
        assert "::error title=trustbuild::" in result.log and message in result.log
        assert written == []
