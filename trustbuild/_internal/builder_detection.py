"""Which frontend docker will read the Dockerfile with: asks docker, as docker decides.

docker's own rule: ``docker buildx build`` (or ``docker build`` on a CLI 23+ with buildx
installed) builds with a buildx builder, whose BuildKit version ``docker buildx inspect``
reports; otherwise ``DOCKER_BUILDKIT`` as docker reads it picks the daemon's built-in BuildKit
or its classic builder, and without it a CLI before 23 uses the classic builder.  The daemon's
version (``docker version``) says which BuildKit it has built in (20.10: BuildKit 0.8) and how
its classic builder parses.

This is the subprocess edge; the model of what each reader does is pure
(``dockerfile.readers``).
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Mapping

from trustbuild._internal.dockerfile import Builder
from trustbuild._internal.dockerfile.readers import Family, Kind, Reader, ReaderChoice
from trustbuild._internal.runner import parse_bool
from trustbuild.errors import ExecutionError

log = logging.getLogger(__name__)
TIMEOUT = 30.0
_VERSION_FORMAT = "{{.Client.Version}}|{{if .Server}}{{.Server.Version}}{{end}}"


def builder_of(choice: ReaderChoice) -> Builder:
    """The docker builder (what ``DOCKER_BUILDKIT`` selects) of a reader."""
    return Builder.CLASSIC if choice.reader.family is Family.CLASSIC else Builder.BUILDKIT


def detect_reader(docker: str, env: Mapping[str, str], *, buildx: bool,
                  building: bool = True, builder_name: str | None = None) -> ReaderChoice:
    """The reader of this build's Dockerfile (before any ``# syntax=`` line), and why.

    *buildx*: the build runs ``docker buildx build``.  *builder_name*: the ``--builder`` the
    docker command line names.  Without *building* (``check``, ``pin``, ``refs``), a machine
    with no docker CLI gets current BuildKit's rules; when building, docker that cannot be
    run is an :class:`ExecutionError`."""
    value = env.get("DOCKER_BUILDKIT", "")
    if value:
        parse_bool(value, "DOCKER_BUILDKIT")  # a bad value is the user's
    try:
        choice = _detect(docker, env, buildx=buildx, builder_name=builder_name)
    except ExecutionError:
        if building:
            raise
        choice = _without_docker(docker, value)
    log.info("Dockerfile reader: %s (%s)", choice.reader, choice.reason)
    return choice


def _without_docker(docker: str, value: str) -> ReaderChoice:
    """No docker CLI (a CI runner that only checks): DOCKER_BUILDKIT=0 says the classic
    builder (its version unknown); otherwise current BuildKit's rules."""
    if value and not parse_bool(value, "DOCKER_BUILDKIT"):
        return ReaderChoice(Reader(Kind.CLASSIC, None), f"no docker CLI could be run "
                            f"({docker}); DOCKER_BUILDKIT={value}: the classic builder")
    return ReaderChoice(Reader(Kind.RULES, "buildkit"),
                        f"no docker CLI could be run ({docker}): current BuildKit's rules")


def _detect(docker: str, env: Mapping[str, str], *, buildx: bool,
            builder_name: str | None) -> ReaderChoice:
    """docker's own decision (docker/cli ``processBuilder``; docker 20.10's
    ``BuildKitEnabled``), step by step.  An empty ``DOCKER_BUILDKIT`` is unset, as docker
    20.10 reads it (docker 23+ refuses it, so no build follows)."""
    if buildx:
        return _buildx_choice(docker, env, "--buildx: docker buildx build",
                              builder_name or env.get("BUILDX_BUILDER") or None)
    value = env.get("DOCKER_BUILDKIT", "")
    client, server = _versions(docker, env)
    major = _major(client)
    alias = _builder_alias(env)
    if alias is not None and (major is None or major < 23):
        # Before 23 the CLI's processAliases rewrites `docker build` to the alias's plugin
        # before anything else, DOCKER_BUILDKIT=0 included (23+ checks that first).
        why = (f"docker CLI {_said(client)} hands `docker build` to {alias!r} "
               "(config.json aliases.builder), whatever DOCKER_BUILDKIT says")
        if alias != "buildx":
            return ReaderChoice(Reader(Kind.RULES, "unknown"),
                                f"{why}: a plugin trustbuild does not know, so every "
                                "BuildKit's rules")
        return _buildx_choice(docker, env, why,
                              builder_name or env.get("BUILDX_BUILDER") or None)
    if value and not parse_bool(value, "DOCKER_BUILDKIT"):
        return ReaderChoice(Reader(Kind.CLASSIC, server), f"DOCKER_BUILDKIT={value} in the "
                            f"environment; daemon {_said(server)}")
    if major is not None and major >= 23:
        return _forwarded(docker, env, client or "", server, builder_name,
                          f"DOCKER_BUILDKIT={value}" if value else "")
    if value:  # DOCKER_BUILDKIT=1 before 23: the daemon's own BuildKit
        return ReaderChoice(Reader(Kind.DAEMON_BUILDKIT, server), f"DOCKER_BUILDKIT={value} "
                            f"in the environment; daemon {_said(server)}")
    # Before 23 the CLI may also follow a daemon configured to build with BuildKit by
    # default; DOCKER_BUILDKIT=0 makes it use the classic builder trustbuild checked for (and
    # these versions say nothing about the variable).
    return ReaderChoice(Reader(Kind.CLASSIC, server),
                        f"docker CLI {_said(client)} uses the classic builder unless "
                        f"DOCKER_BUILDKIT=1; daemon {_said(server)}",
                        docker_buildkit="0")


def _forwarded(docker: str, env: Mapping[str, str], client: str, server: str | None,
               builder_name: str | None, setting: str) -> ReaderChoice:
    """docker 23+: ``docker build`` goes to the builder plugin (buildx, or the plugin an
    ``aliases.builder`` setting names) when it is installed, else to the classic builder
    (an error when DOCKER_BUILDKIT=1 asked for BuildKit: nothing is built then)."""
    why = f"docker CLI {client}" + (f", {setting}" if setting else "")
    alias = _builder_alias(env)
    if alias is not None and alias != "buildx":
        return ReaderChoice(Reader(Kind.RULES, "unknown"),
                            f"{why} hands `docker build` to the plugin {alias!r} "
                            "(config.json aliases.builder), which trustbuild does not know: "
                            "every BuildKit's rules")
    if not _has_buildx(docker, env):
        return ReaderChoice(Reader(Kind.CLASSIC, server),
                            f"{why} without buildx uses the classic builder; daemon "
                            f"{_said(server)}")
    # Which builder: --builder, else BUILDX_BUILDER, else (unless an alias installed buildx
    # as `docker builder`) the current context's default builder, as docker sets it.
    name = builder_name or env.get("BUILDX_BUILDER") or (
        None if alias is not None else _current_context(docker, env))
    return _buildx_choice(docker, env, f"{why} builds with buildx", name)


def _builder_alias(env: Mapping[str, str]) -> str | None:
    """config.json's ``aliases.builder`` (set by ``docker buildx install``)."""
    from trustbuild._internal.dockerconfig import cli_config

    aliases = cli_config(env).get("aliases")
    alias = aliases.get("builder") if isinstance(aliases, dict) else None
    return alias if isinstance(alias, str) and alias else None


def _current_context(docker: str, env: Mapping[str, str]) -> str:
    result = _run([docker, "context", "show"], env)
    name = result.stdout.strip()
    return name if result.returncode == 0 and name else "default"


def _said(version: str | None) -> str:
    return version or "version unknown"


def _major(version: str | None) -> int | None:
    match = re.match(r"(\d+)\.", version or "")
    return int(match.group(1)) if match else None


def _run(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, env=dict(env), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
    except OSError as exc:
        raise ExecutionError(f"cannot run docker ({argv[0]}): {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise ExecutionError(f"{' '.join(argv[:2])} did not answer within {TIMEOUT:.0f} s") \
            from None


def _versions(docker: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The CLI's and the daemon's versions (the daemon's None when it cannot be asked)."""
    result = _run([docker, "version", "--format", _VERSION_FORMAT], env)
    first = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
    client, _, server = first.partition("|")
    if not client:
        raise ExecutionError(f"{docker} version gave no version: {result.stderr.strip()[-300:]}")
    if not server:
        log.info("docker daemon version unknown: %s", result.stderr.strip()[-300:])
    return client.strip() or None, server.strip() or None


_NO_PLUGIN = ("is not a docker command", "unknown command")  # docker <23, docker 23+


def _has_buildx(docker: str, env: Mapping[str, str]) -> bool:
    """Whether docker has the buildx plugin.  Only docker's own "no such command" answer
    means no: a plugin that fails or does not answer may still take the build, so then
    which builder docker would use is not known (an :class:`ExecutionError`)."""
    result = _run([docker, "buildx", "version"], env)
    if result.returncode == 0:
        return True
    if any(text in result.stderr for text in _NO_PLUGIN):
        return False
    raise ExecutionError(f"`{docker} buildx version` failed ({result.stderr.strip()[:200]}): "
                         "trustbuild cannot tell which builder `docker build` would use")


_BUILDKIT_LINE = re.compile(r"^\s*(?:Buildkit|BuildKit version):\s*(\S+)", re.MULTILINE)


def _buildx_choice(docker: str, env: Mapping[str, str], why: str,
                   name: str | None) -> ReaderChoice:
    """The BuildKit of the buildx builder *name* (None: the one selected with `docker buildx
    use`), from ``docker buildx inspect`` (the docker driver reports the daemon's version, a
    container driver BuildKit's own)."""
    result = _run([docker, "buildx", "inspect", *([name] if name else [])], env)
    why = f"{why}, builder {name}" if name else f"{why}, the selected builder"
    # one version for the whole builder: nodes of different BuildKit versions (or none
    # said) leave it unknown, so every rule set is read
    versions = set(_BUILDKIT_LINE.findall(result.stdout)) if result.returncode == 0 else set()
    version = versions.pop() if len(versions) == 1 else None
    if version is not None and not version.startswith("v0."):
        return ReaderChoice(Reader(Kind.DAEMON_BUILDKIT, version.lstrip("v")),
                            f"{why}; buildx inspect: docker driver, daemon {version}")
    reason = f"{why}; buildx inspect: BuildKit {version}" if version else (
        f"{why}; buildx inspect did not say the BuildKit version")
    return ReaderChoice(Reader(Kind.BUILDX, version), reason)
