from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal.cli import main
from trustbuild._internal.exitcodes import TRUST_ERROR as EXIT_TRUST_ERROR
from trustbuild._internal.exitcodes import UNTRUSTED as EXIT_UNTRUSTED

D1 = hashlib.sha256(b"one").hexdigest()
D2 = hashlib.sha256(b"two").hexdigest()


def _env(sim: SimServer, config: Path) -> dict[str, str]:
    return {"DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url}


def test_inspect_lists_tags_roles_and_keys(sim: SimServer, config: Path) -> None:
    r = sim.add(SimRepo("reg.example/app"))
    r.sign_tag("1", D1)
    r.delegate("targets/releases")
    r.sign_tag("1", D2, role="targets/releases")
    r.delegate("targets/qa")
    r.sign_tag("qa", D1, role="targets/qa")
    r.publish()
    result = CliRunner(env=_env(sim, config)).invoke(main, ["inspect", "--format", "json",
                                                            "reg.example/app"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)
    tags = {(t["SignedTag"], t["Digest"]): t for t in report["SignedTags"]}
    assert tags[("1", D2)]["Accepted"] and tags[("1", D2)]["Roles"] == ["targets/releases"]
    assert not tags[("1", D1)]["Accepted"]
    assert tags[("qa", D1)]["Signers"] == ["qa"] and not tags[("qa", D1)]["Accepted"]
    assert {s["Name"] for s in report["Signers"]} == {"releases", "qa"}
    assert len(report["AdministrativeKeys"][0]["Keys"]) == 1
    text = CliRunner(env=_env(sim, config)).invoke(main, ["inspect", "reg.example/app:1"])
    assert text.exit_code == 0
    assert "Repo Admin [targets/releases] (used)" in text.output
    assert "qa" not in text.output.split("List of signers")[0]


def test_inspect_exit_codes(sim: SimServer, config: Path) -> None:
    runner = CliRunner(env=_env(sim, config))
    missing = runner.invoke(main, ["inspect", "reg.example/none"])
    assert missing.exit_code == EXIT_UNTRUSTED
    assert "does not have trust data for reg.example/none" in missing.output
    runner = CliRunner(env={"DOCKER_CONFIG": str(config),
                            "DOCKER_CONTENT_TRUST_SERVER": "https://127.0.0.1:9"})
    down = runner.invoke(main, ["inspect", "reg.example/app"])
    assert down.exit_code == EXIT_TRUST_ERROR
    assert "Traceback" not in down.output
