"""`trustbuild check` as a CI gate on a machine without docker (simulated trust server),
through the installed entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import trustbuild
from tests.conftest import ExampleRegistry
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from tests.registrysim import image

DIGEST = image(None, "base").digest.removeprefix("sha256:")


def _setup(sim: SimServer, config: Path, tmp_path: Path, dockerfile: str,
           registry: ExampleRegistry) -> tuple[Path, dict[str, str | None]]:
    """The trust server signs reg.example/base:1; its registry holds the image (without
    docker, check reads the base image's ONBUILD triggers there)."""
    assert registry.push("base", "base") == DIGEST
    r = sim.add(SimRepo("reg.example/base"))
    r.sign_tag("1", DIGEST)
    r.publish()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    env = {"DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
           "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None,
           **registry.env}
    return ctx, env


def test_check_needs_no_docker_cli(sim: SimServer, config: Path, tmp_path: Path,
                                   example_registry: ExampleRegistry) -> None:
    ctx, env = _setup(sim, config, tmp_path,
                      "FROM reg.example/base:1\nCOPY --from=reg.example/x:2 / /\n",
                      example_registry)
    result = trustbuild("check", "--format", "json", str(ctx), env=env)
    report = json.loads(result.out)
    assert result.code == 4  # the COPY --from image has no trust data
    assert report["reader"]["kind"] == "rules" and report["reader"]["rules"] == ["buildkit"]
    assert "no docker CLI" in report["reader"]["reason"]
    assert [i["status"] for i in report["images"]] == ["trusted", "refused"]
    assert report["images"][0]["digest"] == f"sha256:{DIGEST}"
    assert report["exit_code"] == 4 and report["passed"] is False
    assert "1 of 2 images trusted" in result.err  # the summary, for a CI log


def test_an_option_value_is_never_taken_for_a_flag(sim: SimServer, config: Path,
                                                   tmp_path: Path,
                                                   example_registry: ExampleRegistry) -> None:
    """`--label --offline`: docker reads --offline as the label's value, so must we.  Offline,
    the empty trust cache could not answer (exit 5); online the image is trusted."""
    ctx, env = _setup(sim, config, tmp_path, "FROM reg.example/base:1\n", example_registry)
    offline = trustbuild("check", "--offline", "--label", "x", str(ctx), env=env)
    assert offline.code == 5, offline.out + offline.err
    assert "offline" in offline.out
    online = trustbuild("check", "--label", "--offline", str(ctx), env=env)
    assert online.code == 0, online.err


def test_verbose_explains_the_builder_and_the_references(
        sim: SimServer, config: Path, tmp_path: Path,
        example_registry: ExampleRegistry) -> None:
    ctx, env = _setup(sim, config, tmp_path, "FROM reg.example/base:1 AS a\nFROM scratch\n"
                      "COPY --from=a / /\n", example_registry)
    quiet = trustbuild("check", str(ctx), env=env)
    assert quiet.code == 0 and quiet.err == ""
    loud = trustbuild("check", "-v", str(ctx), env=env)
    assert loud.code == 0
    assert "Dockerfile reader: current BuildKit's rules (no docker CLI" in loud.err
    assert "reg.example/base:1 (FROM, line 1" in loud.err
