"""`trustbuild check` as a CI gate on a machine without docker (simulated trust server)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal.cli import main

DIGEST = hashlib.sha256(b"base").hexdigest()


def test_check_needs_no_docker_cli(sim: SimServer, config: Path, tmp_path: Path) -> None:
    r = sim.add(SimRepo("reg.example/base"))
    r.sign_tag("1", DIGEST)
    r.publish()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM reg.example/base:1\nCOPY --from=reg.example/x:2 / /\n")
    env = {"DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
           "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None}
    result = CliRunner(env=env).invoke(main, ["check", "--format", "json", str(ctx)])
    report = json.loads(result.output)
    assert result.exit_code == 4  # the COPY --from image has no trust data
    assert report["builder"] == "buildkit"
    assert [i["status"] for i in report["images"]] == ["trusted", "refused"]
    assert report["images"][0]["digest"] == f"sha256:{DIGEST}"
