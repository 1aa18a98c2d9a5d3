"""Which reader docker will use: asked of the real docker on the stack, and of stand-in CLIs
that answer as other docker versions do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.stack.services import DOCKER_CLI, Stack
from trustbuild._internal.builder_detection import builder_of, detect_reader
from trustbuild._internal.dockerfile import Builder
from trustbuild._internal.dockerfile.readers import BUILDKIT_0_8, CLASSIC, CURRENT, Kind
from trustbuild.errors import ExecutionError, UsageError

NEWER_CLI = "/usr/local/bin/docker"  # docker 28 without buildx: the classic builder


def fake_docker(tmp_path: Path, client: str, server: str, buildx_inspect: str | None) -> str:
    """A docker CLI that answers `version` and `buildx version|inspect` like another one."""
    script = tmp_path / "docker"
    buildx = (f'  if [ "$2" = version ]; then echo "github.com/docker/buildx v0.20.1"; exit 0; fi\n'
              f"  cat <<'EOF'\n{buildx_inspect}\nEOF\n  exit 0\n") if buildx_inspect else \
        '  echo "docker: \'buildx\' is not a docker command." >&2; exit 1\n'
    version = f'if [ "$1" = version ]; then echo "{client}|{server}"; exit 0; fi\n'
    script.write_text(f'#!/bin/sh\n{version}if [ "$1" = buildx ]; then\n{buildx}fi\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


INSPECT = """Name:   default
Driver: docker-container

Nodes:
Name:      default0
Endpoint:  default
Status:    running
Buildkit:  v0.25.1
Platforms: linux/amd64"""


def test_buildx_builder_version_from_inspect(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, "28.5.1", "28.5.1", INSPECT)
    choice = detect_reader(docker, {}, buildx=False)
    assert choice.reader.kind is Kind.BUILDX and choice.reader.version == "v0.25.1"
    assert choice.reader.rule_sets() == (CURRENT,)
    assert "buildx" in choice.reason and builder_of(choice) is Builder.BUILDKIT
    old = fake_docker(tmp_path, "28.5.1", "28.5.1", INSPECT.replace("v0.25.1", "v0.8.2"))
    assert detect_reader(old, {}, buildx=True).reader.rule_sets() == (BUILDKIT_0_8,)


def test_docker_driver_reports_the_daemon(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, "24.0.7", "20.10.24", INSPECT.replace(
        "v0.25.1", "20.10.24").replace("docker-container", "docker"))
    choice = detect_reader(docker, {}, buildx=True)
    assert choice.reader.kind is Kind.DAEMON_BUILDKIT
    assert choice.reader.rule_sets() == (BUILDKIT_0_8,)


def test_unknown_versions_read_every_way(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, "20.10.24", "", None)
    choice = detect_reader(docker, {"DOCKER_BUILDKIT": "1"}, buildx=False)
    assert choice.reader.version is None and len(choice.reader.rule_sets()) == 2
    assert "version unknown" in choice.reason
    unknown_inspect = fake_docker(tmp_path, "28.0.0", "28.0.0", "Name: x")
    assert len(detect_reader(unknown_inspect, {}, buildx=True).reader.rule_sets()) == 2


def test_no_docker(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(ExecutionError, match="cannot run docker"):
        detect_reader(missing, {}, buildx=False)
    assert detect_reader(missing, {}, buildx=False, building=False).reader.rule_sets() == (
        CURRENT,)
    # DOCKER_BUILDKIT decides the builder; its version is unknown without docker
    classic = detect_reader(missing, {"DOCKER_BUILDKIT": "0"}, buildx=False, building=False)
    assert classic.reader.kind is Kind.CLASSIC and classic.reader.version is None
    assert classic.reader.rule_sets()[0] == CLASSIC
    with pytest.raises(UsageError, match="expects boolean"):
        detect_reader(missing, {"DOCKER_BUILDKIT": "maybe"}, buildx=False, building=False)


@pytest.mark.stack
@pytest.mark.parametrize(("docker", "env", "rules"), [
    (DOCKER_CLI, {"DOCKER_BUILDKIT": "1"}, BUILDKIT_0_8),
    (DOCKER_CLI, {"DOCKER_BUILDKIT": "0"}, CLASSIC),
    (DOCKER_CLI, {}, CLASSIC),
    (NEWER_CLI, {}, CLASSIC),
])
def test_the_stacks_docker(stack: Stack, docker: str, env: dict[str, str],
                           rules: object) -> None:
    if not os.path.exists(docker):
        pytest.skip(f"{docker} is not installed on this machine")
    environment = {"DOCKER_HOST": stack.docker_host, "PATH": os.environ.get("PATH", ""),
                   **env}
    choice = detect_reader(docker, environment, buildx=False)
    assert choice.reader.rule_sets() == (rules,)
    assert choice.reader.version is not None and choice.reader.version.startswith("20.10")


def builders_docker(tmp_path: Path, builders: dict[str, str], *, selected: str,
                    context: str = "default", client: str = "28.2.2") -> tuple[str, Path]:
    """A docker 23+ CLI with buildx and several builders: `buildx inspect NAME` describes
    NAME, `buildx inspect` the one selected with `docker buildx use`; every call is logged."""
    log = tmp_path / "calls"
    cases = "".join(f"    {name}) echo 'Name: {name}'; echo 'Buildkit: {version}';;\n"
                    for name, version in builders.items())
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        f'if [ "$1" = version ]; then echo "{client}|20.10.24"; exit 0; fi\n'
        f'if [ "$1" = context ]; then echo {context}; exit 0; fi\n'
        'if [ "$1" = buildx ] && [ "$2" = version ]; then echo v0.20.1; exit 0; fi\n'
        'if [ "$1" = buildx ] && [ "$2" = inspect ]; then\n'
        f'  name="${{3:-{selected}}}"\n'
        f'  case "$name" in\n{cases}    *) exit 1;;\n  esac\n  exit 0\nfi\nexit 1\n')
    script.chmod(0o755)
    return str(script), log


BUILDERS = {"default": "20.10.24", "ctx2": "20.10.24", "fast": "v0.25.1", "mine": "v0.12.0"}


def test_docker_build_uses_the_contexts_default_builder_not_the_selected_one(
        tmp_path: Path) -> None:
    """docker 23+ sends `docker build` to buildx with BUILDX_BUILDER=<current context>
    (docker/cli processBuilder): the daemon's own BuildKit, whatever `docker buildx use`
    selected.  Asking plain `buildx inspect` would read the file as the wrong BuildKit."""
    docker, log = builders_docker(tmp_path, BUILDERS, selected="fast")
    choice = detect_reader(docker, {}, buildx=False)
    assert choice.reader.kind is Kind.DAEMON_BUILDKIT
    assert choice.reader.rule_sets() == (BUILDKIT_0_8,)
    assert "buildx inspect default" in log.read_text()
    # `docker buildx build` does use the selected builder
    assert detect_reader(docker, {}, buildx=True).reader.rule_sets() == (CURRENT,)


def test_the_builder_docker_build_names_is_the_one_asked(tmp_path: Path) -> None:
    docker, _ = builders_docker(tmp_path, BUILDERS, selected="fast", context="ctx2")
    assert detect_reader(docker, {}, buildx=False).reader.rule_sets() == (BUILDKIT_0_8,)
    named = detect_reader(docker, {}, buildx=False, builder_name="mine")
    assert named.reader.version == "v0.12.0" and "builder mine" in named.reason
    from_env = detect_reader(docker, {"BUILDX_BUILDER": "fast"}, buildx=False)
    assert from_env.reader.rule_sets() == (CURRENT,)
    assert detect_reader(docker, {"DOCKER_BUILDKIT": "1"}, buildx=False).reader.rule_sets() \
        == (BUILDKIT_0_8,)  # DOCKER_BUILDKIT=1 on 23+: buildx too, the context's builder


def test_a_builder_alias_decides_which_plugin_builds(tmp_path: Path) -> None:
    docker, _ = builders_docker(tmp_path, BUILDERS, selected="fast")
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config)}
    (config / "config.json").write_text('{"aliases": {"builder": "buildx"}}')
    # `docker buildx install`: docker build is buildx build, on the selected builder
    assert detect_reader(docker, env, buildx=False).reader.rule_sets() == (CURRENT,)
    (config / "config.json").write_text('{"aliases": {"builder": "kaniko-shim"}}')
    unknown = detect_reader(docker, env, buildx=False)
    assert len(unknown.reader.rule_sets()) == 2 and "kaniko-shim" in unknown.reason


@pytest.mark.parametrize("setting", [{}, {"DOCKER_BUILDKIT": "0"}, {"DOCKER_BUILDKIT": "1"}])
def test_before_23_a_builder_alias_wins_over_docker_buildkit(tmp_path: Path,
                                                              setting: dict[str, str]) -> None:
    """docker 20.10's processAliases rewrites `docker build` to `docker buildx build` before
    DOCKER_BUILDKIT is looked at: the buildx builder reads the file (a `# syntax=` line
    included), not the classic builder."""
    docker = fake_docker(tmp_path, "20.10.24", "20.10.24", INSPECT)
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text('{"aliases": {"builder": "buildx"}}')
    choice = detect_reader(docker, {"DOCKER_CONFIG": str(config), **setting}, buildx=False)
    assert choice.reader.kind is Kind.BUILDX and choice.reader.rule_sets() == (CURRENT,)
    assert "aliases.builder" in choice.reason
    (config / "config.json").write_text('{"aliases": {"builder": "other"}}')
    other = detect_reader(docker, {"DOCKER_CONFIG": str(config), **setting}, buildx=False)
    assert len(other.reader.rule_sets()) == 2 and "'other'" in other.reason


def test_an_empty_docker_buildkit_is_unset_and_overridden_where_needed(tmp_path: Path) -> None:
    """docker 20.10 reads DOCKER_BUILDKIT="" as unset (a daemon configured for BuildKit
    would then build with it): trustbuild checks for the classic builder and hands docker
    DOCKER_BUILDKIT=0, so docker builds with what was checked."""
    from trustbuild._internal.runner import docker_env

    docker = fake_docker(tmp_path, "20.10.24", "20.10.24", None)
    choice = detect_reader(docker, {"DOCKER_BUILDKIT": ""}, buildx=False)
    assert choice.reader.kind is Kind.CLASSIC and choice.docker_buildkit == "0"
    assert docker_env({"DOCKER_BUILDKIT": ""}, choice.docker_buildkit)["DOCKER_BUILDKIT"] == "0"


def test_a_builder_whose_nodes_differ_is_read_by_every_rule_set(tmp_path: Path) -> None:
    two_nodes = INSPECT + "\n\nName:      default1\nEndpoint:  other\nStatus:    running\n" \
        "Buildkit:  v0.8.2\nPlatforms: linux/arm64"
    docker = fake_docker(tmp_path, "28.5.1", "28.5.1", two_nodes)
    choice = detect_reader(docker, {}, buildx=True)
    assert choice.reader.kind is Kind.BUILDX and choice.reader.version is None
    assert set(choice.reader.rule_sets()) == {BUILDKIT_0_8, CURRENT}


def test_a_buildx_that_fails_to_answer_is_no_proof_of_the_classic_builder(
        tmp_path: Path) -> None:
    # only docker's own "no such command" means no buildx; a plugin that fails may still
    # take the build, so the reader is not known: building stops, a check reads every way
    docker = fake_docker(tmp_path, "28.5.1", "28.5.1", None)
    assert detect_reader(docker, {}, buildx=False).reader.kind is Kind.CLASSIC
    script = Path(docker)
    script.write_text(script.read_text().replace(
        "echo \"docker: 'buildx' is not a docker command.\" >&2",
        "echo 'buildx: segmentation fault' >&2"))
    with pytest.raises(ExecutionError, match="cannot tell which builder"):
        detect_reader(docker, {}, buildx=False)
    assert detect_reader(docker, {}, buildx=False, building=False).reader.kind is not \
        Kind.CLASSIC
