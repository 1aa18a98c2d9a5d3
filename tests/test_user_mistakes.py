"""A user's mistake is one clear line with its exit code (2 usage, 6 could not write), and
nothing the user owns is overwritten.  No network: the trust server is 127.0.0.1:1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import trustbuild

OFFLINE = {"DOCKER_CONTENT_TRUST_SERVER": "https://127.0.0.1:1",
           "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None}


def context(tmp_path: Path, name: str = "Dockerfile", text: str = "FROM scratch\n") -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / name).write_text(text)
    return ctx


@pytest.mark.parametrize(("args", "env", "says"), [
    (["--platform", "bad/"], {}, "--platform: invalid platform"),
    ([], {"DOCKER_DEFAULT_PLATFORM": "bad/"}, "DOCKER_DEFAULT_PLATFORM: invalid platform"),
    (["--build-arg", "BUILDKIT_DISABLE_FILEOP=1"], {}, "BUILDKIT_DISABLE_FILEOP is refused"),
])
def test_command_line_mistakes_are_usage_errors(tmp_path: Path, args: list[str],
                                                env: dict[str, str], says: str) -> None:
    result = trustbuild("refs", *args, str(context(tmp_path)), env={**OFFLINE, **env})
    assert result.code == 2 and says in result.err
    assert "Traceback" not in result.err


def test_a_trust_cache_that_cannot_be_written_is_exit_6(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "config-file"
    not_a_dir.write_text("")
    result = trustbuild("check", str(context(tmp_path, text="FROM reg.example/x:1\n")),
                        env={**OFFLINE, "DOCKER_CONFIG": str(not_a_dir)})
    assert result.code == 6 and "cannot lock the trust cache" in result.err


def test_pin_never_writes_over_the_dockerfile_it_read(tmp_path: Path) -> None:
    # docker's fallback name: only a lower-case `dockerfile` in the context
    ctx = context(tmp_path, name="dockerfile")
    result = trustbuild("pin", "-o", str(ctx / "dockerfile"), str(ctx), env=OFFLINE)
    assert result.code == 2 and "over its input" in result.err
    assert (ctx / "dockerfile").read_text() == "FROM scratch\n"


def test_pin_in_warn_mode_says_what_it_let_through(tmp_path: Path) -> None:
    ctx = context(tmp_path, text="FROM reg.example/x:1\n")
    policy = tmp_path / "warn.toml"
    policy.write_text('[trust]\nmode = "warn"\n')
    result = trustbuild("pin", "--config", str(policy), str(ctx), env=OFFLINE)
    assert result.code == 0 and result.out == "FROM reg.example/x:1\n"
    assert "reg.example/x:1" in result.err and "warn mode" in result.err


def test_scan_never_writes_its_report_over_a_scanned_dockerfile(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    result = trustbuild("scan", "-o", str(ctx / "Dockerfile"), str(ctx), env=OFFLINE)
    assert result.code == 2 and "over the scanned Dockerfile" in result.err
    assert (ctx / "Dockerfile").read_text() == "FROM scratch\n"


def test_policy_show_refuses_a_context_that_does_not_exist(tmp_path: Path) -> None:
    result = trustbuild("policy", "show", "--format", "json", "--context",
                        str(tmp_path / "missing"), "alpine", env=OFFLINE)
    assert result.code == 2 and json.loads(result.out)["error"]["exit_code"] == 2
