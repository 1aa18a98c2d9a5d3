"""`trustbuild policy show`, through the installed entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import trustbuild

KEY = "a" * 64


def test_policy_show_json_is_structured_and_names_ignored_project_keys(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[trust]\ntofu = false\n"
                    f"[[repository]]\nmatch = 'reg.example/app'\nroot_keys = ['{KEY}']\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / ".trustbuild.toml").write_text("[trust]\nmode = 'warn'\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "DOCKER_CONTENT_TRUST_SERVER": None}
    result = trustbuild("policy", "show", "--format", "json", "--config", str(user),
                        "--context", str(ctx), "reg.example/app:1", "reg.example/other",
                        env=env)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    app, other = doc["images"]
    assert app["image"] == "reg.example/app:1" and other["image"] == "reg.example/other:latest"
    assert app["tofu"] == {"value": False, "source": str(user)}
    assert app["root_pins"][0]["key_ids"] == [KEY] and not app["unpinned_refused"]
    assert other["root_pins"] == [] and other["unpinned_refused"] is True
    assert app["mode"]["value"] == "enforce"  # the project's warn mode does not apply
    assert app["server"]["url"] == "https://reg.example"
    assert app["grace"] == {"seconds": 0, "source": "default"}
    [ignored] = doc["ignored"]
    assert ignored["key"] == "trust.mode" and ignored["file"].endswith(".trustbuild.toml")
    text = trustbuild("policy", "show", "--config", str(user), "--context", str(ctx),
                      "reg.example/app:1", env=env)
    assert "trust.mode" in text.out and "ignored" in text.out
    assert "trust.mode" in text.err  # the warning, on stderr
