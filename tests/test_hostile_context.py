"""The build context as an attacker writes it: files that lead outside it, files that never
end, nesting deeper than any stack.  Each is one clear error, never a traceback, never a
secret in a message, and a scan still checks the other files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli import trustbuild

NO_DOCKER: dict[str, str | None] = {"TRUSTBUILD_DOCKER": "/nonexistent/docker",
                                    "DOCKER_BUILDKIT": None}


def _context(tmp_path: Path, name: str = "ctx") -> Path:
    ctx = tmp_path / name
    ctx.mkdir()
    return ctx


def test_a_dockerfile_that_leads_outside_the_context_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text("MY_CI_SECRET=hunter2\n")
    ctx = _context(tmp_path)
    (ctx / "Dockerfile").symlink_to(secret)
    for command in ("check", "refs"):
        result = trustbuild(command, "--format", "json", str(ctx), env=NO_DOCKER)
        assert result.code == 2, result.err
        assert "leads outside" in result.err
        assert "hunter2" not in result.out + result.err
    zero = _context(tmp_path, "zero")
    (zero / "Dockerfile").symlink_to("/dev/zero")
    result = trustbuild("check", str(zero), env=NO_DOCKER)
    assert result.code == 2 and "Traceback" not in result.err


def test_special_and_huge_files_are_refused(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    os.mkfifo(ctx / "Dockerfile")
    result = trustbuild("refs", "-f", str(ctx / "Dockerfile"), str(ctx), env=NO_DOCKER)
    assert result.code == 2 and "not a regular file" in result.err
    big = _context(tmp_path, "big")
    (big / "Dockerfile").write_bytes(b"FROM a:1\n" + b"#" * (17 * 1024 * 1024))
    result = trustbuild("refs", str(big), env=NO_DOCKER)
    assert result.code == 2 and "larger than" in result.err


def test_nesting_deeper_than_any_stack_is_one_clear_error(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    (ctx / "Dockerfile").write_text("FROM a:1\n")
    (ctx / ".trustbuild.toml").write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    policy = trustbuild("check", str(ctx), env=NO_DOCKER)
    assert policy.code == 2 and "nested too deeply" in policy.err, policy.err
    nested = _context(tmp_path, "args")
    (nested / "Dockerfile").write_text(
        "ARG A=" + "${A:-" * 3000 + "x" + "}" * 3000 + "\nFROM a:${A}\n")
    arg = trustbuild("refs", str(nested), env=NO_DOCKER)
    assert arg.code == 3 and "nested too deeply" in arg.err, arg.err
    locked = _context(tmp_path, "lock")
    (locked / "Dockerfile").write_text("FROM a:1\n")
    (locked / "trustbuild.lock.json").write_text("[" * 200_000)
    lock = trustbuild("check", "--locked", "--format", "json", str(locked), env=NO_DOCKER)
    assert lock.code == 2, lock.err
    assert json.loads(lock.out)["error"]["exit_code"] == 2


def test_one_hostile_file_does_not_stop_a_scan(tmp_path: Path) -> None:
    root = _context(tmp_path, "repo")
    (root / "a").mkdir()
    (root / "a" / "Dockerfile").write_text(
        "ARG A=" + "${A:-" * 3000 + "x" + "}" * 3000 + "\nFROM a:${A}\n")
    (root / "b").mkdir()
    (root / "b" / "Dockerfile").symlink_to("/dev/zero")
    (root / "c").mkdir()
    (root / "c" / "Dockerfile").write_text("FROM scratch\n")
    (root / ".gitignore").symlink_to("/dev/zero")
    result = trustbuild("scan", "--format", "json", str(root), env=NO_DOCKER)
    assert "Traceback" not in result.err
    report = json.loads(result.out)
    codes = {f["dockerfile"].rsplit("/", 2)[-2]: f["exit_code"] for f in report["files"]}
    assert codes == {"a": 3, "b": 2, "c": 0}, report
