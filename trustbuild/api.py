"""The library API: ``check``, ``pin`` and ``build``, on the same path as the commands.

```python
import trustbuild.api as tb

report = tb.check("services/web", build_args={"BASE_TAG": "1.4"})
if not report.ok:
    for image in report.refused + report.unverified:
        print(image.pull.reference, image.reason)
text = tb.pin("services/web").text          # the pinned Dockerfile
code = tb.build(["-t", "web:1", "services/web"])   # docker's exit status
```
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from trustbuild._internal.builder_detection import builder_of, detect_reader
from trustbuild._internal.docker_args import BuildCommand, is_remote_context
from trustbuild._internal.docker_args import parse as parse_docker_args
from trustbuild._internal.dockerfile import Builder, BuildOptions, analyse
from trustbuild._internal.dockerfile.pinning import PinnedDockerfile
from trustbuild._internal.dockerfile.readers import Reader
from trustbuild._internal.exitcodes import for_report
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.plan import CheckReport, ImageVerdict, check_dockerfile
from trustbuild._internal.runner import (
    docker_binary,
    docker_env,
    onbuild_triggers,
    pinned_copy,
    run_docker,
)
from trustbuild.errors import DockerfileError, UsageError

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """The Dockerfile a build uses: its text and where it came from (None: stdin)."""

    text: str
    path: Path | None
    name: str  # file name for the pinned copy

    @property
    def display(self) -> str:
        return str(self.path) if self.path else "<stdin>"


def read_dockerfile(context: str, file: str | None, stdin: bytes | None = None) -> Dockerfile:
    """docker's rule: ``-f`` is relative to the current directory, the default is
    ``PATH/Dockerfile``; ``-f -`` is standard input."""
    if file == "-":
        data = stdin if stdin is not None else sys.stdin.buffer.read()
        return Dockerfile(data.decode("utf-8", "surrogateescape"), None, "Dockerfile")
    path = Path(file) if file else Path(context) / "Dockerfile"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read Dockerfile {str(path)!r}: "
                         f"{exc.strerror or exc}") from None
    return Dockerfile(data.decode("utf-8", "surrogateescape"), path, path.name)


def build_args_from(pairs: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """``--build-arg K=V``; a bare ``K`` takes the environment's value, when set."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {pair!r}: expected KEY=VALUE")
        if eq:
            args[key] = value
        elif key in env:
            args[key] = env[key]
    return args


def options_from(cmd: BuildCommand, builder: Builder, env: Mapping[str, str],
                 reader: Reader | None = None) -> BuildOptions:
    platforms = [p.strip() for value in cmd.values("platform") for p in value.split(",")
                 if p.strip()]
    return BuildOptions(build_args=build_args_from(cmd.values("build-arg"), env),
                        target=cmd.last("target"), platforms=platforms, builder=builder,
                        reader=reader)


def check_command(cmd: BuildCommand, builder: Builder, client: TrustClient,
                  env: Mapping[str, str], stdin: bytes | None = None,
                  reader: Reader | None = None) -> tuple[Dockerfile, CheckReport]:
    """Check the build a docker command line describes (no build)."""
    _refuse_unsupported(cmd)
    dockerfile = read_dockerfile(cmd.context or ".", cmd.file, stdin)
    return dockerfile, check_dockerfile(dockerfile.text,
                                        options_from(cmd, builder, env, reader),
                                        client.resolve_many, dockerfile.display,
                                        client.policy)


def _refuse_unsupported(cmd: BuildCommand) -> None:
    if cmd.has("disable-content-trust"):
        raise UsageError("--disable-content-trust is refused: trustbuild builds only on "
                         "signed base images (use docker build for an unchecked build)")
    context = cmd.context or "."
    if context == "-":
        raise UsageError("a build context on standard input cannot be checked: give a "
                         "local directory as PATH (the Dockerfile may come from stdin "
                         "with -f -)")
    if is_remote_context(context):
        raise UsageError(f"remote build contexts ({context}) cannot be checked before the "
                         "build: clone or download it and build the local copy")
    if cmd.values("build-context"):
        raise UsageError("--build-context is not supported: a named context can replace "
                         "the images trustbuild verifies")


def trust_client(context: str | None, config: str | None = None,
                 env: Mapping[str, str] | None = None, offline: bool = False) -> TrustClient:
    """A client carrying the effective policy for a build of *context*."""
    from trustbuild._internal.policy import load

    env = dict(os.environ if env is None else env)
    return TrustClient(env=env, offline=offline,
                       policy=load(config=config, context=context, env=env))


def check(path: str = ".", *, dockerfile: str | None = None,
          build_args: Mapping[str, str] | None = None, target: str | None = None,
          platforms: Sequence[str] = (), builder: Builder = Builder.BUILDKIT,
          client: TrustClient | None = None, config: str | None = None) -> CheckReport:
    """Check a build without running it: the library form of ``trustbuild check``.  Without
    a *client*, one is made with the policy of *config*, the project and the user."""
    source = read_dockerfile(path, dockerfile)
    options = BuildOptions(build_args=dict(build_args or {}), target=target,
                           platforms=list(platforms), builder=builder)
    client = client or trust_client(path, config)
    return check_dockerfile(source.text, options, client.resolve_many, source.display,
                            client.policy)


def pin(path: str = ".", *, dockerfile: str | None = None,
        build_args: Mapping[str, str] | None = None, target: str | None = None,
        platforms: Sequence[str] = (), builder: Builder = Builder.BUILDKIT,
        client: TrustClient | None = None, config: str | None = None) -> PinnedDockerfile:
    """The pinned Dockerfile (``trustbuild pin``); raises ``TrustError`` unless every image
    is trusted (or let through by the policy)."""
    return check(path, dockerfile=dockerfile, build_args=build_args, target=target,
                 platforms=platforms, builder=builder, client=client,
                 config=config).pinned()


@dataclass(frozen=True, slots=True)
class BuildResult:
    exit_code: int
    report: CheckReport | None  # None when the command line was refused before checking


def build(argv: Sequence[str], *, docker: str | None = None, buildx: bool = False,
          client: TrustClient | None = None, env: Mapping[str, str] | None = None,
          say: Say | None = None, stdin: bytes | None = None, config: str | None = None,
          offline: bool = False) -> BuildResult:
    """``trustbuild build``: check, then run docker on the pinned copy.

    Returns docker's exit status, or the check's exit code when docker was not started."""
    env = dict(os.environ if env is None else env)
    cmd = parse_docker_args(list(argv))
    _refuse_unsupported(cmd)
    binary = docker_binary(docker, env)
    client = client or trust_client(cmd.context, config, env, offline)
    choice = detect_reader(binary, env, buildx=buildx)
    builder = builder_of(choice)
    if cmd.file == "-" and stdin is None:
        stdin = sys.stdin.buffer.read()
    source, report = check_command(cmd, builder, client, env, stdin, choice.reader)
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    said: set[str] = set()
    for verdict in report.verdicts:
        line = describe(verdict, report.mode)
        if (not cmd.quiet or not verdict.trusted) and line not in said:
            said.add(line)
            say(line)
    if not report.passes:
        return BuildResult(for_report(report), report)
    docker_environment = docker_env(env, builder, buildx=buildx)
    _refuse_registry_triggers(report, source, cmd, builder, env,
                              lambda image: onbuild_triggers(binary, docker_environment, image),
                              choice.reader)
    pinned = report.pinned()
    with pinned_copy(pinned.text, source.name, source.path) as path:
        args = cmd.rewritten(str(path), dict(pinned.build_args))
        prefix = [binary, "buildx", "build"] if buildx else [binary, "build"]
        code = run_docker([*prefix, *args], docker_environment,
                          stdin_consumed=cmd.file == "-")
    return BuildResult(code, report)


def _refuse_registry_triggers(report: CheckReport, source: Dockerfile, cmd: BuildCommand,
                              builder: Builder, env: Mapping[str, str],
                              triggers_of: Callable[[str], list[str]],
                              reader: Reader | None = None) -> None:
    """A base image's ONBUILD triggers run in the build; any image they pull was chosen by
    tag in the base image's config, where no pin can reach it, so such a build is refused.
    Triggers that pull nothing (``ONBUILD RUN make``) are fine."""
    triggers: dict[str, list[str]] = {}
    for verdict in report.verdicts:
        if verdict.trusted is not None and verdict.pull.instruction == "FROM":
            ref = verdict.pull.reference
            found = triggers_of(f"{ref.name}@{verdict.trusted.digest}")
            if found:
                triggers[str(ref)] = found
    if not triggers:
        return
    options = replace(options_from(cmd, builder, env, reader), onbuild_triggers=triggers)
    pulls = analyse(source.text, options, path=source.display).pulls
    checked = {(str(v.pull.reference), v.pull.platform) for v in report.verdicts}
    # A trigger naming a stage of this file brings that stage's images into the build.
    from_triggers = [p for p in pulls if p.instruction.startswith("ONBUILD (from ")
                     or (str(p.reference), p.platform) not in checked]
    if from_triggers:
        pull = from_triggers[0]
        raise DockerfileError(
            f"{pull.instruction.removeprefix('ONBUILD ')}: an ONBUILD trigger in the base "
            f"image's config pulls {pull.reference}, which trustbuild cannot pin; refusing "
            "to build (use a base image without such triggers)", pull.line,
            path=source.display)


def describe(verdict: ImageVerdict, mode: str = "enforce") -> str:
    pull = verdict.pull
    where = f"{pull.instruction} line {pull.line}" if pull.line else pull.instruction
    if verdict.trusted is not None:
        notes = "".join(f"; {n}" for n in verdict.trusted.notes)
        return (f"trustbuild: {pull.reference} -> {verdict.trusted.digest} "
                f"({verdict.trusted.role}{notes})")
    label = {"allowed": "allowed unverified", "refused": "refused"}.get(verdict.status,
                                                                        "not verified")
    if mode == "warn" and verdict.status != "allowed":
        label = f"WARNING (warn mode, not enforced): {label}"
    return f"trustbuild: {label}: {pull.reference} ({where}): {verdict.reason}"
