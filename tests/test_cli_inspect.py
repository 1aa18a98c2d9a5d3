from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.cli import trustbuild
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild.errors import ExitCode

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
    result = trustbuild("inspect", "--format", "json", "reg.example/app", env=_env(sim, config))
    assert result.code == 0, result.err
    [report] = json.loads(result.out)["repositories"]
    tags = {(t["tag"], t["digest"]): t for t in report["signed_tags"]}
    assert tags[("1", f"sha256:{D2}")]["accepted"]
    assert tags[("1", f"sha256:{D2}")]["roles"] == ["targets/releases"]
    assert not tags[("1", f"sha256:{D1}")]["accepted"]
    assert tags[("qa", f"sha256:{D1}")]["signers"] == ["qa"]
    assert not tags[("qa", f"sha256:{D1}")]["accepted"]
    assert {s["name"] for s in report["signers"]} == {"releases", "qa"}
    assert len(report["root_keys"]) == 1
    text = trustbuild("inspect", "reg.example/app:1", env=_env(sim, config))
    assert text.code == 0
    assert "Repo Admin [targets/releases] (used)" in text.out
    assert "qa" not in text.out.split("List of signers")[0]


def test_inspect_exit_codes(sim: SimServer, config: Path) -> None:
    missing = trustbuild("inspect", "reg.example/none", env=_env(sim, config))
    assert missing.code == ExitCode.UNTRUSTED
    assert "does not have trust data for reg.example/none" in missing.err
    down_env = {"DOCKER_CONFIG": str(config),
                "DOCKER_CONTENT_TRUST_SERVER": "https://127.0.0.1:9"}
    down = trustbuild("inspect", "reg.example/app", env=down_env)
    assert down.code == ExitCode.TRUST_ERROR
    assert "Traceback" not in down.err
    both = trustbuild("inspect", "--format", "json", "reg.example/none", env=_env(sim, config))
    [failed] = json.loads(both.out)["repositories"]
    assert failed["ok"] is False and failed["error"]["exit_code"] == 4


def test_inspect_offline_says_so(sim: SimServer, config: Path) -> None:
    r = sim.add(SimRepo("reg.example/cached"))
    r.sign_tag("1", D1)
    r.publish()
    assert trustbuild("inspect", "reg.example/cached", env=_env(sim, config)).code == 0
    offline = trustbuild("inspect", "--offline", "--format", "json", "reg.example/cached",
                         env=_env(sim, config))
    assert offline.code == 0, offline.err
    assert json.loads(offline.out)["offline"] is True
    assert "offline: answered from the local trust cache only" in offline.err
