from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trustbuild._internal.cli import main
from trustbuild._internal.dockerfile.platforms import host_platform
from trustbuild._internal.exitcodes import DOCKERFILE as EXIT_DOCKERFILE
from trustbuild._internal.exitcodes import USAGE as EXIT_USAGE

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
    result = CliRunner().invoke(main, ["refs", "--format", "json", "--platform", "linux/arm64",
                                       "--build-arg", "REGISTRY=r.io", str(ctx)])
    assert result.exit_code == 0, result.output
    pulls = json.loads(result.output)
    assert [(p["instruction"], p["reference"], p["platform"]) for p in pulls] == [
        ("FROM", "r.io/tb/base:1", str(host_platform())),
        ("FROM", "r.io/tb/runtime:arm64", "linux/arm64"),
        ("COPY --from", "reg.example:5000/tb/tools:2", "linux/arm64"),
    ]
    assert pulls[0]["written"] == "${BASE}" and pulls[0]["from_args"] is True
    assert (pulls[0]["line"], pulls[0]["column"]) == (3, 32)


def test_refs_text_and_target(tmp_path: Path) -> None:
    ctx = _write(tmp_path, MULTI_STAGE, "build.Dockerfile")
    result = CliRunner().invoke(main, ["refs", "-f", str(ctx / "build.Dockerfile"),
                                       "--target", "BUILD", str(ctx)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and "reg.example:5000/tb/base:1" in lines[0]


def test_refs_reads_stdin() -> None:
    result = CliRunner().invoke(main, ["refs", "-f", "-"], input="FROM alpine:3.19\n")
    assert result.exit_code == 0
    assert "docker.io/library/alpine:3.19" in result.output


def test_refs_dockerfile_error_is_one_clear_line(tmp_path: Path) -> None:
    ctx = _write(tmp_path, "FROM alpine\nCOPY --from=$X / /\n")
    result = CliRunner().invoke(main, ["refs", str(ctx)])
    assert result.exit_code == EXIT_DOCKERFILE
    assert result.output.strip().count("\n") == 0
    assert "Dockerfile:2: variable expansion is not supported for --from" in result.output
    assert "Traceback" not in result.output


def test_refs_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["refs", str(tmp_path / "nope")])
    assert result.exit_code == EXIT_USAGE
    assert "cannot read Dockerfile" in result.output


def test_refs_classic_builder_from_environment(tmp_path: Path) -> None:
    ctx = _write(tmp_path, "FROM a:1 AS x\nFROM b:1 AS y\nFROM c:1\n")
    result = CliRunner(env={"DOCKER_BUILDKIT": "0"}).invoke(main, ["refs", "--target", "y",
                                                                   str(ctx)])
    assert result.exit_code == 0
    assert "a:1" in result.output and "b:1" in result.output


def test_refs_builder_rules(tmp_path: Path) -> None:
    ctx = _write(tmp_path, "ARG T=${NOPE-1}\nFROM reg.example/repo:${T:-2}\n")
    current = CliRunner().invoke(main, ["refs", str(ctx)])
    legacy = CliRunner().invoke(main, ["refs", "--builder-rules", "buildkit-0.8", str(ctx)])
    assert current.exit_code == 0 and "reg.example/repo:1" in current.output
    assert legacy.exit_code == 0 and "reg.example/repo:2" in legacy.output
    unknown = CliRunner().invoke(main, ["refs", "--builder-rules", "unknown", str(ctx)])
    assert unknown.exit_code == EXIT_DOCKERFILE and "disagree" in unknown.output
    bad = CliRunner().invoke(main, ["refs", "--builder-rules", "kaniko", str(ctx)])
    assert bad.exit_code == EXIT_USAGE and "unknown builder rules" in bad.output
