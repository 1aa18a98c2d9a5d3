"""trustbuild build / check / pin end to end: real dockerd (classic builder and BuildKit),
registry and notary-server."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.cli import entry_point
from tests.stack.catalog import Catalog
from tests.stack.publisher import Published, Publisher
from tests.stack.services import DOCKER_CLI, Stack

pytestmark = pytest.mark.stack
BUILDERS = [pytest.param("0", id="classic"), pytest.param("1", id="buildkit")]


@dataclass(frozen=True)
class Images:
    legacy: Published
    releases: Published
    tool: Published
    unsigned: Published
    moving: Published  # signed, then the tag was pushed again unsigned with other content


@pytest.fixture(scope="module")
def images(publisher: Publisher) -> Images:
    moving = publisher.sign_legacy("tb/moving", "1")
    publisher.push_unsigned("tb/moving", "1", marker="NOT-SIGNED")
    return Images(publisher.sign_legacy("tb/blegacy", "1"),
                  publisher.sign_delegation("tb/brel", "1"),
                  publisher.sign_legacy("tb/btool", "2"),
                  publisher.push_unsigned("tb/bunsigned", "1"), moving)


@dataclass
class Run:
    code: int
    out: str
    err: str


class TB(Protocol):
    """Runs the installed ``trustbuild`` against the stack, and checks no temp files remain."""

    def __call__(self, *args: str, builder: str = "1", docker: str = DOCKER_CLI,
                 stdin: str | None = None, extra_env: dict[str, str] | None = None) -> Run: ...


@pytest.fixture()
def tb(stack: Stack, consumer_config: Path, tmp_path: Path) -> TB:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()

    def run(*args: str, builder: str = "1", docker: str = DOCKER_CLI,
            stdin: str | None = None, extra_env: dict[str, str] | None = None) -> Run:
        env = {**stack.env(consumer_config), "TRUSTBUILD_DOCKER": docker,
               "DOCKER_BUILDKIT": builder, "TMPDIR": str(tmpdir), **(extra_env or {})}
        result = subprocess.run([entry_point(), *args], env=env,
                                input=stdin, capture_output=True, text=True, timeout=600,
                                check=False)
        assert not list(tmpdir.iterdir()), "temp files left behind"
        return Run(result.returncode, result.stdout, result.stderr)

    return run


def context(tmp_path: Path, dockerfile: str, name: str = "Dockerfile") -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / name).write_text(dockerfile)
    (ctx / "payload.txt").write_text("payload\n")
    return ctx


def run_image(stack: Stack, publisher: Publisher, tag: str, *cmd: str) -> str:
    return publisher.docker("run", "--rm", tag, *cmd).strip()


def marker(image: Published) -> str:
    return f"{image.repo}:{image.tag}"


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("which", ["legacy", "releases"])
def test_signed_base(tb: TB, stack: Stack, publisher: Publisher, images: Images,
                     tmp_path: Path, builder: str, which: str) -> None:
    base: Published = getattr(images, which)
    text = f"FROM {base.ref}\nRUN cat /etc/tb-image > /seen\n"
    ctx = context(tmp_path, text)
    before = hashlib.sha256((ctx / "Dockerfile").read_bytes()).hexdigest()
    tag = f"tbtest/{which}:{builder}"
    result = tb("-t", tag, str(ctx), builder=builder)
    assert result.code == 0, result.err
    assert f"{base.ref} -> {base.digest}" in result.err
    assert run_image(stack, publisher, tag, "cat", "/seen") == marker(base)
    assert hashlib.sha256((ctx / "Dockerfile").read_bytes()).hexdigest() == before


@pytest.mark.parametrize("builder", BUILDERS)
def test_build_uses_the_signed_digest_not_the_moved_tag(tb: TB, stack: Stack, publisher: Publisher,
                                                        images: Images, tmp_path: Path,
                                                        builder: str) -> None:
    ctx = context(tmp_path, f"FROM {images.moving.ref}\nRUN cat /etc/tb-image > /seen\n")
    result = tb("build", "-t", f"tbtest/moving:{builder}", str(ctx), builder=builder)
    assert result.code == 0, result.err
    seen = run_image(stack, publisher, f"tbtest/moving:{builder}", "cat", "/seen")
    assert seen == marker(images.moving) != "NOT-SIGNED"


@pytest.mark.parametrize("builder", BUILDERS)
def test_multi_stage_arg_platform_copy_from(tb: TB, stack: Stack, publisher: Publisher,
                                            images: Images, tmp_path: Path,
                                            builder: str) -> None:
    # The classic builder knows $BUILDPLATFORM only when declared; BuildKit 0.8 (dockerd
    # 20.10) empties a builtin that is declared bare, current BuildKit keeps it.
    declare = "ARG BUILDPLATFORM\n" if builder == "0" else ""
    text = (f"ARG BASE={images.legacy.repo}:1\n{declare}"
            f"FROM --platform=$BUILDPLATFORM ${{BASE}} AS Build\n"
            "COPY payload.txt /payload\n"
            "RUN cat /etc/tb-image > /built-on\n"
            f"FROM {images.releases.ref} AS final\n"
            "COPY --from=build /payload /payload\n"
            "COPY --from=build /built-on /built-on\n"
            f"COPY --from={images.tool.ref} /etc/tb-image /tool\n")
    ctx = context(tmp_path, text)
    tag = f"tbtest/multi:{builder}"
    # The classic builder has no built-in $BUILDPLATFORM: its users pass it, and without it
    # docker would fail, so trustbuild stops first with the same complaint.
    platform = [] if builder == "1" else ["--build-arg", "BUILDPLATFORM=linux/amd64"]
    if builder == "0":
        missing = tb("-t", tag, str(ctx), builder=builder)
        assert missing.code == 3 and "platform" in missing.err
    result = tb("-t", tag, *platform, str(ctx), builder=builder)
    assert result.code == 0, result.err
    assert run_image(stack, publisher, tag, "cat", "/built-on") == marker(images.legacy)
    assert run_image(stack, publisher, tag, "cat", "/tool") == marker(images.tool)
    # the same Dockerfile with --build-arg: the ARG-driven base changes, and is verified
    result = tb("-t", tag, *platform, "--build-arg", f"BASE={images.tool.ref}", str(ctx),
                builder=builder)
    assert result.code == 0, result.err
    assert run_image(stack, publisher, tag, "cat", "/built-on") == marker(images.tool)


def test_run_mount_from_signed_image(tb: TB, stack: Stack, publisher: Publisher,
                                     images: Images, tmp_path: Path) -> None:
    text = (f"FROM {images.legacy.ref}\n"
            f"RUN --mount=type=bind,from={images.tool.ref},target=/t cat /t/etc/tb-image > /m\n")
    ctx = context(tmp_path, text)
    result = tb("-t", "tbtest/mount", str(ctx), builder="1")
    assert result.code == 0, result.err
    assert run_image(stack, publisher, "tbtest/mount", "cat", "/m") == marker(images.tool)
    classic = tb("-t", "tbtest/mount", str(ctx), builder="0")
    assert classic.code == 3 and "needs BuildKit" in classic.err


def test_target_skips_an_unsigned_stage_only_with_buildkit(tb: TB, images: Images,
                                                          tmp_path: Path) -> None:
    text = (f"FROM {images.unsigned.ref} AS unused\n"
            f"FROM {images.legacy.ref} AS wanted\nRUN true\n"
            f"FROM {images.releases.ref}\n")
    ctx = context(tmp_path, text)
    result = tb("--target", "wanted", "-t", "tbtest/target", str(ctx), builder="1")
    assert result.code == 0, result.err
    # the classic builder does not prune: it would pull the unsigned stage, so it is refused
    classic = tb("--target", "wanted", "-t", "tbtest/target", str(ctx), builder="0")
    assert classic.code == 4 and "No trust data for 1" in classic.err


def test_users_content_trust_setting_does_not_reach_docker(tb: TB, stack: Stack,
                                                         publisher: Publisher,
                                                         images: Images,
                                                         tmp_path: Path) -> None:
    """With DOCKER_CONTENT_TRUST=1, docker's classic trust path would re-resolve the pinned
    lines itself (and then fail to re-tag a digest reference)."""
    ctx = context(tmp_path, f"FROM {images.releases.ref}\nRUN cat /etc/tb-image > /seen\n")
    result = tb("-t", "tbtest/dct", str(ctx), builder="0",
                extra_env={"DOCKER_CONTENT_TRUST": "1"})
    assert result.code == 0, result.err
    assert run_image(stack, publisher, "tbtest/dct", "cat", "/seen") == marker(images.releases)


@pytest.fixture()
def recorder(tmp_path: Path) -> tuple[str, Path]:
    log = tmp_path / "docker-calls"
    shim = tmp_path / "docker-shim"
    # answers `docker version` as docker 20.10 does and `docker image inspect` (no ONBUILD
    # triggers); records every other call, and fails builds
    shim.write_text("#!/bin/sh\n"
                    "if [ \"$1\" = version ]; then echo '20.10.24|20.10.24'; exit 0; fi\n"
                    f"echo \"$@\" >> {log}\n"
                    "if [ \"$1\" = image ]; then echo null; exit 0; fi\nexit 42\n")
    shim.chmod(0o755)
    return str(shim), log


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("kind", ["from", "copy", "other_delegation", "no_trust_data"])
def test_refusals_never_start_docker(tb: TB, images: Images, catalog: Catalog, tmp_path: Path,
                                     recorder: tuple[str, Path], builder: str,
                                     kind: str) -> None:
    bad = {"from": images.unsigned, "copy": images.unsigned,
           "other_delegation": catalog.other_delegation,
           "no_trust_data": catalog.no_trust_data}[kind]
    text = (f"FROM {images.legacy.ref}\nCOPY --from={bad.ref} / /x\n" if kind == "copy"
            else f"FROM {bad.ref}\n")
    ctx = context(tmp_path, text)
    shim, log = recorder
    result = tb("-t", "tbtest/refused", str(ctx), builder=builder, docker=shim)
    assert result.code == 4
    assert f"No trust data for {bad.tag}" in result.err
    calls = log.read_text().splitlines() if log.exists() else []
    assert not [c for c in calls if c.startswith(("build", "buildx"))], "docker build ran"


def test_docker_exit_status_comes_back(tb: TB, images: Images, tmp_path: Path,
                                       recorder: tuple[str, Path]) -> None:
    ctx = context(tmp_path, f"FROM {images.legacy.ref}\nRUN false\n")
    shim, log = recorder
    assert tb("-t", "x", str(ctx), docker=shim).code == 42
    assert "--file" in log.read_text()
    failing = tb("-t", "tbtest/fails", str(ctx), builder="0")
    assert failing.code == 1  # what docker build returns for a failed RUN


def test_ctrl_c_during_the_build_cleans_up(stack: Stack, consumer_config: Path,
                                           images: Images, tmp_path: Path) -> None:
    ctx = context(tmp_path, f"FROM {images.legacy.ref}\nRUN sleep 60\n")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**stack.env(consumer_config), "TRUSTBUILD_DOCKER": DOCKER_CLI,
           "DOCKER_BUILDKIT": "1", "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen([entry_point(), "-t", "tbtest/sleep",
                             str(ctx)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not list(tmpdir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmpdir.iterdir()), "the pinned copy never appeared"
    time.sleep(3)  # docker is running the RUN step
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    assert not list(tmpdir.iterdir())


def test_dockerfile_on_stdin_and_dockerignore(tb: TB, stack: Stack, publisher: Publisher,
                                              images: Images, tmp_path: Path) -> None:
    ctx = context(tmp_path, f"FROM {images.legacy.ref}\nCOPY . /ctx/\n", "app.Dockerfile")
    (ctx / "app.Dockerfile.dockerignore").write_text("payload.txt\n")
    result = tb("-f", str(ctx / "app.Dockerfile"), "-t", "tbtest/ignore", str(ctx))
    assert result.code == 0, result.err
    listing = run_image(stack, publisher, "tbtest/ignore", "ls", "/ctx")
    assert "payload.txt" not in listing
    result = tb("-f", "-", "-t", "tbtest/stdin", str(ctx),
                stdin=f"FROM {images.releases.ref}\nRUN cat /etc/tb-image > /seen\n")
    assert result.code == 0, result.err
    assert run_image(stack, publisher, "tbtest/stdin", "cat", "/seen") == marker(images.releases)


def test_check_json_report_and_pin(tb: TB, images: Images, tmp_path: Path) -> None:
    text = (f"FROM {images.releases.ref} AS a\n"
            f"FROM {images.legacy.ref}\nCOPY --from=a /etc/tb-image /a\n"
            f"COPY --from={images.unsigned.ref} / /u\n")
    ctx = context(tmp_path, text)
    result = tb("check", "--format", "json", str(ctx))
    assert result.code == 4
    report = json.loads(result.out)
    by_status = {i["status"]: i for i in report["images"]}
    assert by_status["refused"]["reference"] == images.unsigned.ref
    assert by_status["refused"]["reason"] == "no-trust-data"  # the repository has none
    assert "No trust data for 1" in by_status["refused"]["message"]
    trusted = [i for i in report["images"] if i["status"] == "trusted"]
    assert {(i["reference"], i["digest"], i["role"]) for i in trusted} == {
        (images.releases.ref, images.releases.digest, "targets/releases"),
        (images.legacy.ref, images.legacy.digest, "targets")}
    (ctx / "Dockerfile").write_text(text.rsplit("COPY --from=", 1)[0])
    assert tb("check", str(ctx)).code == 0
    pinned = tb("pin", str(ctx))
    assert pinned.code == 0
    assert f"FROM {images.releases.ref}@{images.releases.digest} AS a" in pinned.out
    out_file = tmp_path / "pinned.Dockerfile"
    assert tb("pin", "-o", str(out_file), str(ctx)).code == 0
    assert out_file.read_text() == pinned.out
    assert tb("pin", "-o", str(ctx / "Dockerfile"), str(ctx)).code == 2


def test_usage_refusals(tb: TB, images: Images, tmp_path: Path) -> None:
    ctx = context(tmp_path, f"FROM {images.legacy.ref}\n")
    for args, words in [(["--disable-content-trust", str(ctx)], "--disable-content-trust"),
                        (["https://github.com/x/y.git"], "remote build contexts"),
                        (["-"], "standard input"),
                        (["--build-context", "a=b", str(ctx)], "--build-context"),
                        (["--no-such-flag", str(ctx)], "unknown flag")]:
        result = tb(*args)
        assert result.code == 2, (args, result.err)
        assert words in result.err and "Traceback" not in result.err


def test_onbuild_triggers_of_a_registry_base_image(tb: TB, stack: Stack, publisher: Publisher,
                                                   images: Images, tmp_path: Path) -> None:
    """Triggers in a base image's config run in the build: one that pulls an image (which no
    pin can reach) is refused before docker builds; one that pulls nothing is fine."""
    pulling = publisher.build_and_sign(
        "tb/onbuild-pull", "1",
        f"FROM {images.legacy.ref}\nONBUILD COPY --from={images.unsigned.ref} / /u\n")
    harmless = publisher.build_and_sign(
        "tb/onbuild-run", "1", f"FROM {images.legacy.ref}\nONBUILD RUN echo triggered > /t\n")
    bad = context(tmp_path / "bad", f"FROM {pulling.ref}\nRUN true\n")
    refused = tb("-t", "tbtest/onbuild-bad", str(bad), builder="1")
    assert refused.code == 3, refused.err
    assert "ONBUILD trigger" in refused.err and images.unsigned.ref in refused.err
    missing = subprocess.run([DOCKER_CLI, "image", "inspect", "tbtest/onbuild-bad"],
                             env={**publisher.env}, capture_output=True, check=False)
    assert missing.returncode != 0, "the image was built"
    good = context(tmp_path / "good", f"FROM {harmless.ref}\n")
    result = tb("-t", "tbtest/onbuild-ok", str(good), builder="0")
    assert result.code == 0, result.err
    assert run_image(stack, publisher, "tbtest/onbuild-ok", "cat", "/t") == "triggered"


def test_onbuild_triggers_are_read_through_the_docker_cli(tb: TB, publisher: Publisher,
                                                         images: Images, tmp_path: Path,
                                                         recorder: tuple[str, Path]) -> None:
    """The triggers come from `docker image inspect` of the signed digest, so that contexts
    and remote engines work as docker resolves them."""
    pulling = publisher.build_and_sign(
        "tb/onbuild-sock", "1",
        f"FROM {images.legacy.ref}\nONBUILD COPY --from={images.unsigned.ref} / /u\n")
    shim, log = recorder
    tb("-t", "x", str(context(tmp_path, f"FROM {pulling.ref}\n")), builder="0", docker=shim)
    repo = pulling.ref.rsplit(":", 1)[0]
    assert f"image inspect --format {{{{json .Config.OnBuild}}}} {repo}@{pulling.digest}" \
        in log.read_text()


def test_onbuild_triggers_of_an_image_the_engine_lacks(tb: TB, publisher: Publisher,
                                                       images: Images, tmp_path: Path) -> None:
    """Not in the engine yet: the CLI pulls it by its signed digest, then it is read."""
    pulling = publisher.build_and_sign(
        "tb/onbuild-gone", "1",
        f"FROM {images.legacy.ref}\nONBUILD COPY --from={images.unsigned.ref} / /u\n")
    publisher.docker("image", "rm", "-f", pulling.ref, f"{pulling.ref.rsplit(':', 1)[0]}@"
                     f"{pulling.digest}")
    refused = tb("-t", "x", str(context(tmp_path, f"FROM {pulling.ref}\n")), builder="0")
    assert refused.code == 3, refused.err
    assert images.unsigned.ref in refused.err
