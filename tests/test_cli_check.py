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


def base_context(sim: SimServer, config: Path, tmp_path: Path, dockerfile: str,
                        registry: ExampleRegistry) -> tuple[Path, dict[str, str | None]]:
    """A context holding *dockerfile*, and an environment where the trust server signs
    reg.example/base:1 and its registry holds the image (without docker, check reads the
    base image's ONBUILD triggers there); no user policy applies."""
    assert registry.push("base", "base") == DIGEST
    r = sim.add(SimRepo("reg.example/base"))
    r.sign_tag("1", DIGEST)
    r.publish()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    env = {"DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
           "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None,
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **registry.env}
    return ctx, env


def test_check_needs_no_docker_cli(sim: SimServer, config: Path, tmp_path: Path,
                                   example_registry: ExampleRegistry) -> None:
    ctx, env = base_context(sim, config, tmp_path,
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
    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:1\n", example_registry)
    offline = trustbuild("check", "--offline", "--label", "x", str(ctx), env=env)
    assert offline.code == 5, offline.out + offline.err
    assert "offline" in offline.out
    online = trustbuild("check", "--label", "--offline", str(ctx), env=env)
    assert online.code == 0, online.err


def test_verbose_explains_the_builder_and_the_references(
        sim: SimServer, config: Path, tmp_path: Path,
        example_registry: ExampleRegistry) -> None:
    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:1 AS a\n"
                            "FROM scratch\nCOPY --from=a / /\n", example_registry)
    quiet = trustbuild("check", str(ctx), env=env)
    assert quiet.code == 0 and quiet.err == ""
    loud = trustbuild("check", "-v", str(ctx), env=env)
    assert loud.code == 0
    assert "Dockerfile reader: current BuildKit's rules (no docker CLI" in loud.err
    assert "reg.example/base:1 (FROM, line 1" in loud.err


def _run_on_a_terminal(args: list[str], env: dict[str, str | None]) -> tuple[int, str, str]:
    """Run trustbuild with standard error on a pseudo-terminal: (exit code, stdout, what the
    terminal showed)."""
    import os
    import pty
    import subprocess

    from tests.cli import installed_script

    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([installed_script(), *args], env=full, stdout=subprocess.PIPE,
                            stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: trustbuild is done
            break
        if not chunk:
            break
        shown += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait()
    os.close(leader)
    return code, out, shown.decode(errors="replace")


def test_progress_on_a_terminal_only_and_only_when_slow(
        sim: SimServer, config: Path, tmp_path: Path,
        example_registry: ExampleRegistry) -> None:
    from tests.notarysim.server import Fault

    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:1\n", example_registry)
    sim.faults["timestamp.json"] = Fault(delay=2.5)
    code, out, shown = _run_on_a_terminal(["check", "--format", "json", str(ctx)], env)
    assert code == 0, shown
    assert "resolving images 0/1" in shown and f"waiting for {sim.hostport}" in shown
    assert json.loads(out)["exit_code"] == 0  # nothing of it on stdout
    assert shown.rstrip().endswith("1 of 1 images trusted (read as current BuildKit's rules)")
    piped = trustbuild("check", str(ctx), env=env)  # stderr a pipe: never a progress line
    assert piped.code == 0 and "resolving images" not in piped.err
    sim.faults.clear()
    quick_code, _, quick = _run_on_a_terminal(["check", str(ctx)], env)
    assert quick_code == 0 and "resolving images" not in quick  # under a second: silent


def test_streams_of_a_refusal(sim: SimServer, config: Path, tmp_path: Path,
                              example_registry: ExampleRegistry) -> None:
    """A refused image: `pin` writes nothing on standard output (a pipe into
    `docker build -f -` gets no Dockerfile), the reasons go to standard error; `check -q`
    leaves out the trusted images; warn mode passes the gate and says it did not enforce."""
    ctx, env = base_context(sim, config, tmp_path,
                      "FROM reg.example/base:1\nCOPY --from=reg.example/none:1 / /\n",
                      example_registry)
    pinned = trustbuild("pin", str(ctx), env=env)
    assert pinned.code == 4 and pinned.out == ""
    assert "refused: reg.example/none:1 (COPY --from, line 2): No trust data for 1" in \
        pinned.err
    assert "hint: " in pinned.err
    quiet = trustbuild("check", "-q", str(ctx), env=env)
    assert quiet.code == 4 and "reg.example/base:1 ->" not in quiet.out
    assert "reg.example/none:1" in quiet.out
    warn = tmp_path / "warn.toml"
    warn.write_text("[trust]\nmode = 'warn'\n")
    warned = trustbuild("check", "--format", "json", "--config", str(warn), str(ctx), env=env)
    report = json.loads(warned.out)
    assert warned.code == 0 and report["ok"] is False and report["passed"] is True
    assert report["mode"] == "warn" and "warn mode: nothing enforced" in warned.err


def test_a_misnamed_target_lists_the_stages(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM a:1 AS build\nFROM b:1 AS final\n")
    result = trustbuild("refs", "--target", "biuld", str(ctx),
                        env={"TRUSTBUILD_DOCKER": "/nonexistent/docker"})
    assert result.code == 3
    assert "failed to reach build target biuld" in result.err
    assert "(its stages: build, final)" in result.err


def test_tls_failures_name_the_ca_and_where_it_goes(sim: SimServer, config: Path,
                                                    tmp_path: Path,
                                                    example_registry: ExampleRegistry) -> None:
    """A missing CA and a wrong one read differently, and the hint names the file docker and
    trustbuild read; one message for the server, not one per image."""
    from tests.notarysim.server import make_tls

    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:1\n"
                      "COPY --from=reg.example/base:2 / /\n", example_registry)
    ca = config / "tls" / sim.hostport / "ca.crt"
    right = ca.read_bytes()
    ca.unlink()
    missing = trustbuild("check", str(ctx), env=env)
    assert missing.code == 5
    assert f"no CA file is configured for {sim.hostport}" in missing.out
    assert f"$DOCKER_CONFIG/tls/{sim.hostport}/ca.crt" in missing.out
    assert missing.out.count("certificate verify failed") == 1  # once for the server
    ca.write_bytes(make_tls(tmp_path / "other-ca").ca_cert.read_bytes())
    wrong = trustbuild("check", str(ctx), env=env)
    assert wrong.code == 5 and f"the CA file {ca} does not verify" in wrong.out
    ca.write_bytes(right)


def test_a_tag_signed_only_by_another_delegation_says_so(
        sim: SimServer, config: Path, tmp_path: Path,
        example_registry: ExampleRegistry) -> None:
    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:qa\n", example_registry)
    repo = sim.repos["reg.example/base"]
    repo.delegate("targets/mallory")
    repo.sign_tag("qa", DIGEST, role="targets/mallory")
    repo.publish()
    result = trustbuild("check", "--format", "json", str(ctx), env=env)
    [image] = json.loads(result.out)["images"]
    assert result.code == 4
    assert image["reason"] == "signed-by-other-role"
    assert image["signed_by"] == ["targets/mallory"]
    assert image["message"] == ("No trust data for qa: signed only by targets/mallory; "
                                "trustbuild accepts targets/releases or targets")
    assert "targets/releases" in image["hint"]


def test_the_classic_builders_missing_platform_args_are_named(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM --platform=$BUILDPLATFORM alpine:3.19\n")
    result = trustbuild("refs", "--builder-rules", "classic", str(ctx),
                        env={"TRUSTBUILD_DOCKER": "/nonexistent/docker"})
    assert result.code == 3 and "the classic builder has no built-in platform args" in \
        result.err
