from __future__ import annotations

import json
from pathlib import Path

from tests.cli import trustbuild
from trustbuild._internal.dockerfile.platforms import host_platform
from trustbuild.errors import ExitCode

NO_DOCKER: dict[str, str | None] = {"TRUSTBUILD_DOCKER": "/nonexistent/docker",
                                    "DOCKER_BUILDKIT": None}

MULTI_STAGE = """\
ARG REGISTRY=reg.example:5000
ARG BASE=${REGISTRY}/tb/base:1
FROM --platform=$BUILDPLATFORM ${BASE} AS build
RUN echo built > /out
FROM ${REGISTRY}/tb/runtime:${TARGETARCH}
COPY --from=build /out /out
COPY --from=reg.example:5000/tb/tools:2 /bin/tool /bin/tool
"""


def _write(tmp_path: Path, text: str, name: str = "Dockerfile") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_refs_on_multistage_arg_driven_dockerfile(tmp_path: Path) -> None:
    ctx = _write(tmp_path, MULTI_STAGE)
    result = trustbuild("refs", "--format", "json", "--platform", "linux/arm64",
                        "--build-arg", "REGISTRY=r.io", str(ctx), env=NO_DOCKER)
    assert result.code == 0, result.err
    pulls = json.loads(result.out)["images"]
    assert [(p["instruction"], p["reference"], p["platform"]) for p in pulls] == [
        ("FROM", "r.io/tb/base:1", str(host_platform())),
        ("FROM", "r.io/tb/runtime:arm64", "linux/arm64"),
        ("COPY --from", "reg.example:5000/tb/tools:2", "linux/arm64"),
    ]
    assert pulls[0]["written"] == "${BASE}" and pulls[0]["from_args"] is True
    assert (pulls[0]["line"], pulls[0]["column"]) == (3, 32)


def test_refs_text_and_target(tmp_path: Path) -> None:
    ctx = _write(tmp_path, MULTI_STAGE, "build.Dockerfile")
    result = trustbuild("refs", "-f", str(ctx / "build.Dockerfile"), "--target", "BUILD",
                        str(ctx), env=NO_DOCKER)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 1 and "reg.example:5000/tb/base:1" in lines[0]


def test_refs_reads_stdin() -> None:
    result = trustbuild("refs", "-f", "-", stdin="FROM alpine:3.19\n", env=NO_DOCKER)
    assert result.code == 0
    assert "docker.io/library/alpine:3.19" in result.out


def test_refs_dockerfile_error_is_one_clear_line(tmp_path: Path) -> None:
    ctx = _write(tmp_path, "FROM alpine\nCOPY --from=$X / /\n")
    result = trustbuild("refs", str(ctx), env=NO_DOCKER)
    assert result.code == ExitCode.DOCKERFILE
    assert result.err.strip().count("\n") == 0 and result.out == ""
    assert "Dockerfile:2: variable expansion is not supported for --from" in result.err
    assert "Traceback" not in result.err


def test_refs_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = trustbuild("refs", str(tmp_path / "nope"), env=NO_DOCKER)
    assert result.code == ExitCode.USAGE
    assert "cannot read Dockerfile" in result.err


def test_refs_classic_builder_from_environment(tmp_path: Path) -> None:
    ctx = _write(tmp_path, "FROM a:1 AS x\nFROM b:1 AS y\nFROM c:1\n")
    result = trustbuild("refs", "--target", "y", str(ctx), env={"DOCKER_BUILDKIT": "0"})
    assert result.code == 0
    assert "a:1" in result.out and "b:1" in result.out


def test_refs_builder_rules(tmp_path: Path) -> None:
    ctx = _write(tmp_path, "ARG T=${NOPE-1}\nFROM reg.example/repo:${T:-2}\n")
    current = trustbuild("refs", str(ctx), env=NO_DOCKER)
    legacy = trustbuild("refs", "--builder-rules", "buildkit-0.8", str(ctx))
    assert current.code == 0 and "reg.example/repo:1" in current.out
    assert legacy.code == 0 and "reg.example/repo:2" in legacy.out
    unknown = trustbuild("refs", "--builder-rules", "unknown", str(ctx))
    assert unknown.code == ExitCode.DOCKERFILE and "disagree" in unknown.err
    bad = trustbuild("refs", "--builder-rules", "kaniko", str(ctx))
    assert bad.code == ExitCode.USAGE and "unknown builder rules" in bad.err


def test_the_proxy_build_args_docker_adds_from_its_config_count(tmp_path: Path) -> None:
    """docker adds config.json's `proxies` to every build as build args, and the classic
    builder uses them in FROM without an ARG line: so does trustbuild."""
    ctx = _write(tmp_path, "FROM reg.example/repo:1${HTTP_PROXY:+x}\n")
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(
        '{"proxies": {"default": {"httpProxy": "http://proxy.example:3128"}}}')
    env = {**NO_DOCKER, "DOCKER_CONFIG": str(config)}
    classic = trustbuild("refs", "--builder-rules", "classic", str(ctx), env=env)
    assert classic.code == 0 and "reg.example/repo:1x" in classic.out, classic.err
    # a --build-arg of the user's wins, as with docker
    mine = trustbuild("refs", "--builder-rules", "classic", "--build-arg", "HTTP_PROXY=",
                      str(ctx), env=env)
    assert "reg.example/repo:1 " in mine.out + " "
