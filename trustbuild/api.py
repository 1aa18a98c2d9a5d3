"""The library API: what the commands do, for programs.  The commands call these functions,
so the command line and the library take one path.

```python
import trustbuild

report = trustbuild.check("services/web", build_args={"BASE_TAG": "1.4"})
if not report.ok:
    for verdict in report.refused + report.unverified:
        print(verdict.pull.reference, verdict.reason, verdict.message)
text = trustbuild.pin("services/web").text                 # the pinned Dockerfile
result = trustbuild.build(["-t", "web:1", "services/web"])  # result.exit_code: docker's
```

Nothing here prints or exits; failures are exceptions from :mod:`trustbuild.errors`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trustbuild._internal.builder_detection import detect_reader
from trustbuild._internal.docker_args import (
    BuildCommand,
    build_args_from,
    platforms_or_default,
    refuse_unsupported,
)
from trustbuild._internal.docker_args import parse as parse_docker_args
from trustbuild._internal.dockerconfig import with_proxy_build_args
from trustbuild._internal.dockerfile import ImagePull, analyse
from trustbuild._internal.dockerfile.pinning import PinnedDockerfile
from trustbuild._internal.dockerfile.readers import ReaderChoice, reader_named
from trustbuild._internal.files import MAX_SMALL_FILE, read_bounded
from trustbuild._internal.lockfile import (
    LOCK_FILE,
    Lock,
    LockChange,
    LockedReport,
    apply_lock,
    dockerfile_key,
    dumps,
    lock_from,
    relock,
    require_dockerfile,
)
from trustbuild._internal.lockfile import parse as parse_lock
from trustbuild._internal.notary.client import Progress, TrustClient
from trustbuild._internal.notary.inspection import RepositoryReport
from trustbuild._internal.onbuild import OnbuildReader
from trustbuild._internal.plan import (
    BuildRequest,
    CheckReport,
    Dockerfile,
    check_dockerfile,
    complete_onbuild,
    options_for,
    read_dockerfile,
)
from trustbuild._internal.registry import RegistryClient
from trustbuild._internal.runner import (
    build_guard,
    docker_binary,
    docker_env,
    pinned_copy,
    run_docker,
)
from trustbuild._internal.scan import ScanReport
from trustbuild.errors import (
    ExecutionError,
    ExitCode,
    InvalidReferenceError,
    LockfileError,
    Reason,
    TrustError,
    UsageError,
)

if TYPE_CHECKING:
    from trustbuild._internal.policy import Policy

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def trust_client(context: str | None = ".", *, config: str | None = None,
                 offline: bool = False, env: Mapping[str, str] | None = None,
                 progress: Progress | None = None) -> TrustClient:
    """A client carrying the effective policy for a build of *context* (``--config`` file,
    the project's ``.trustbuild.toml``, the user's file)."""
    from trustbuild._internal.policy import load

    env = dict(os.environ if env is None else env)
    return TrustClient(env=env, offline=offline, progress=progress,
                       policy=load(config=config, context=context, env=env))


def decide_reader(builder_rules: str | None = None, *, docker: str | None = None,
                  env: Mapping[str, str] | None = None, buildx: bool = False,
                  building: bool = False, builder_name: str | None = None) -> ReaderChoice:
    """Which frontend reads the Dockerfile, and why: *builder_rules* when given
    (``buildkit``, ``buildkit-0.8``, ``classic``, ``unknown``…); else the one docker would use
    (``--buildx``, ``DOCKER_BUILDKIT``, the docker CLI's and daemon's versions, buildx), and
    current BuildKit, docker's default, when there is no docker CLI and nothing is built."""
    if builder_rules is not None:
        try:
            reader = reader_named(builder_rules)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        log.info("Dockerfile reader: %s (--builder-rules %s)", reader, builder_rules)
        return ReaderChoice(reader, f"--builder-rules {builder_rules}")
    env = os.environ if env is None else env
    return detect_reader(docker_binary(docker, env), env, buildx=buildx, building=building,
                         builder_name=builder_name)


@dataclass(frozen=True, slots=True)
class TriggersNotRead:
    """A base image whose ONBUILD triggers ``refs`` did not read, and why (``reason`` None:
    refs reads no network unless ``onbuild``)."""

    reference: str
    reason: Reason | None
    message: str
    exit_code: int = ExitCode.OK


@dataclass(slots=True)
class RefsReport:
    """The images a build would pull (``trustbuild refs``).  ``onbuild_not_read``: base images
    whose ONBUILD triggers were not read, so images they would pull may be missing."""

    dockerfile: str
    reader: ReaderChoice
    pulls: list[ImagePull]
    warnings: list[str] = field(default_factory=list)
    onbuild_read: bool = False
    onbuild_not_read: list[TriggersNotRead] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0, or (``onbuild``) the worst reason a base image's triggers were not read."""
        return max((n.exit_code for n in self.onbuild_not_read), default=ExitCode.OK)


def refs(path: str = ".", *, dockerfile: str | None = None,
         build_args: Mapping[str, str] | None = None, target: str | None = None,
         platforms: Sequence[str] = (), builder_rules: str | None = None,
         docker: str | None = None, config: str | None = None,
         env: Mapping[str, str] | None = None, stdin: bytes | None = None,
         onbuild: bool = False, client: TrustClient | None = None,
         offline: bool = False) -> RefsReport:
    """Every image the build would pull: ``trustbuild refs``.  No network, unless *onbuild*
    (``refs --onbuild``): then base images are resolved through trust data (with *client*, or
    one made as :func:`check` makes it) and their ONBUILD triggers read at the signed
    digests, as :func:`check` reads them."""
    from trustbuild._internal.policy import load

    request = _request(path, dockerfile, build_args, target, platforms, env)
    reader = decide_reader(builder_rules, docker=docker, env=env)
    if onbuild:
        client = client or trust_client(path, config=config, offline=offline, env=env)
        return refs_for(request, reader, client.policy, stdin, client=client, docker=docker,
                        env=env)
    return refs_for(request, reader, load(config=config, context=path, env=env), stdin)


def refs_for(request: BuildRequest, reader: ReaderChoice, policy: Policy | None = None,
             stdin: bytes | None = None, *, client: TrustClient | None = None,
             docker: str | None = None, env: Mapping[str, str] | None = None) -> RefsReport:
    """The images *request* pulls; with *client*, ONBUILD triggers of its base images read
    (only base images are resolved)."""
    source = read_dockerfile(request.context, request.dockerfile, stdin)
    options = options_for(request, reader, policy if client is None else client.policy)
    analysis = analyse(source.text, options, path=source.display)
    for decision in analysis.decisions:
        log.info("%s: %s", source.display, decision)
    if client is None:
        unread = list(dict.fromkeys(str(p.reference) for p in analysis.unread_trigger_images))
        warnings = list(analysis.warnings)
        if unread:
            warnings.append(f"the ONBUILD triggers of base images were not read (refs reads no "
                            f"network): {', '.join(unread)}; images they pull are not listed "
                            "(trustbuild refs --onbuild reads them; check always does)")
        return RefsReport(source.display, reader, analysis.pulls, warnings, False,
                          [TriggersNotRead(r, None, "not read: refs reads no network "
                                           "without --onbuild") for r in unread])
    answers = dict(client.resolve_many(dict.fromkeys(
        str(p.reference) for p in analysis.unread_trigger_images)))
    outcome = complete_onbuild(source, analysis, options, answers, client.resolve_many,
                               onbuild_reader(client, docker=docker, env=env).read,
                               client.policy)
    warnings = list(outcome.analysis.warnings)
    not_read = [TriggersNotRead(key, error.reason, str(error), int(error.exit_code))
                for key, error in outcome.not_read.items()]
    if not_read:
        warnings.append("the ONBUILD triggers of base images could not be read, so images they "
                        "pull may be missing: " + "; ".join(f"{n.reference}: {n.message}"
                                                          for n in not_read))
    return RefsReport(source.display, reader, outcome.analysis.pulls, warnings, True, not_read)


def onbuild_reader(client: TrustClient, *, docker: str | None = None,
                   env: Mapping[str, str] | None = None) -> OnbuildReader:
    """How base images' ONBUILD triggers are read for *client*'s checks: the engine through
    *docker* (default ``$TRUSTBUILD_DOCKER``, else ``docker``), the registry through the
    client's transport, then ``docker pull``."""
    env = os.environ if env is None else env
    return OnbuildReader(registry=RegistryClient(client.transport),
                         docker=docker_binary(docker, env), env=env)


def check(path: str = ".", *, dockerfile: str | None = None,
          build_args: Mapping[str, str] | None = None, target: str | None = None,
          platforms: Sequence[str] = (), builder_rules: str | None = None,
          docker: str | None = None, client: TrustClient | None = None,
          config: str | None = None, offline: bool = False,
          env: Mapping[str, str] | None = None, stdin: bytes | None = None,
          locked: bool | str = False) -> CheckReport:
    """Check a build without running it: ``trustbuild check``.  Untrusted images are
    verdicts in the report, not exceptions.  Without a *client*, one is made with the policy
    of *config*, the project and the user.  *locked* (True, or the lock file's path): hold
    the build to its lock, as ``check --locked``."""
    request = _request(path, dockerfile, build_args, target, platforms, env)
    return _check(request, builder_rules, docker, client, config, offline, env, stdin, locked,
                  gate=True)


def _check(request: BuildRequest, builder_rules: str | None, docker: str | None,
           client: TrustClient | None, config: str | None, offline: bool,
           env: Mapping[str, str] | None, stdin: bytes | None, locked: bool | str, *,
           gate: bool) -> CheckReport:
    """``check`` and ``pin``: *gate*, a lock entry the build no longer pulls fails it."""
    reader = decide_reader(builder_rules, docker=docker, env=env)
    client = client or trust_client(request.context, config=config, offline=offline, env=env)
    if locked is not False:
        return locked_check_request(request, reader, client, stdin, _lock_file(locked),
                                    gate=gate, docker=docker, env=env)[1]
    return check_request(request, reader, client, stdin, docker=docker, env=env)[1]


def check_request(request: BuildRequest, reader: ReaderChoice, client: TrustClient,
                  stdin: bytes | None = None, *, docker: str | None = None,
                  env: Mapping[str, str] | None = None) -> tuple[Dockerfile, CheckReport]:
    """The check of *request*, base images' ONBUILD triggers read as :func:`onbuild_reader`
    reads them (*docker*, *env*: the docker CLI and its environment)."""
    source = read_dockerfile(request.context, request.dockerfile, stdin)
    return source, check_dockerfile(source, options_for(request, reader, client.policy),
                                    client.resolve_many, client.policy, reader,
                                    onbuild=onbuild_reader(client, docker=docker,
                                                           env=env).read)


def _lock_file(locked: bool | str) -> str | None:
    return locked if isinstance(locked, str) else None


def lock_path(source: Dockerfile, lock_file: str | None = None) -> Path:
    """The lock of *source*: *lock_file*, else ``trustbuild.lock.json`` beside it."""
    if source.path is None:
        raise UsageError("a Dockerfile on standard input (-f -) has no lock: give its path "
                         "with -f")
    return Path(lock_file) if lock_file else source.path.parent / LOCK_FILE


def read_lock(path: Path, source: Dockerfile) -> Lock:
    """The lock at *path*, which must be *source*'s."""
    if not path.exists() and not path.is_symlink():
        raise LockfileError(f"no lock file {path}: run `trustbuild lock` to write it")
    data = read_bounded(path, limit=MAX_SMALL_FILE, within=path.parent, error=LockfileError,
                        what="the lock file")
    lock = parse_lock(data, str(path))
    require_dockerfile(lock, _dockerfile_key(source, path), str(path))
    return lock


def _dockerfile_key(source: Dockerfile, lock: Path) -> str:
    assert source.path is not None
    return dockerfile_key(os.path.abspath(source.path), os.path.abspath(lock.parent))


def locked_check_request(request: BuildRequest, reader: ReaderChoice, client: TrustClient,
                         stdin: bytes | None, lock_file: str | None, *, gate: bool,
                         docker: str | None = None, env: Mapping[str, str] | None = None
                         ) -> tuple[Dockerfile, LockedReport]:
    """The check held to the lock: each locked digest must be what trust data signs for its
    tag, online from the servers, offline (the client's) from the verified trust cache
    within its expiry; the lock is in the build context, so it is never taken at its word.
    With *gate*, a lock entry the build no longer pulls fails the check too."""
    source, report = check_request(request, reader, client, stdin, docker=docker, env=env)
    path = lock_path(source, lock_file)
    lock = read_lock(path, source)
    if client.offline:
        log.info("offline: the digests in %s are confirmed against the local trust cache",
                 path)
    return source, apply_lock(report, lock, str(path), offline=client.offline, gate=gate)


@dataclass(frozen=True, slots=True)
class LockResult:
    """``trustbuild lock``: the check it rests on, the lock file, the lock (None when the
    check did not pass, and nothing was written), what changed, and whether the file was
    written (an unchanged lock is left alone)."""

    report: CheckReport
    lock_file: str
    lock: Lock | None = None
    changes: list[LockChange] = field(default_factory=list)
    written: bool = False

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.lock is not None else self.report.exit_code_enforced


def lock(path: str = ".", *, dockerfile: str | None = None,
         build_args: Mapping[str, str] | None = None, target: str | None = None,
         platforms: Sequence[str] = (), builder_rules: str | None = None,
         docker: str | None = None, client: TrustClient | None = None,
         config: str | None = None, offline: bool = False,
         env: Mapping[str, str] | None = None, output: str | None = None) -> LockResult:
    """``trustbuild lock``: check the build, then write the signed digest of every image it
    pulls to *output* (default ``trustbuild.lock.json`` beside the Dockerfile), keeping the
    entries of an existing lock that are still signed the same way.  Nothing is written
    unless every image is trusted (or allowed by the policy)."""
    request = _request(path, dockerfile, build_args, target, platforms, env)
    chosen = decide_reader(builder_rules, docker=docker, env=env)
    client = client or trust_client(path, config=config, offline=offline, env=env)
    return lock_request(request, chosen, client, None, output, docker=docker, env=env)


def lock_request(request: BuildRequest, reader: ReaderChoice, client: TrustClient,
                 stdin: bytes | None, output: str | None, *, docker: str | None = None,
                 env: Mapping[str, str] | None = None) -> LockResult:
    source, report = check_request(request, reader, client, stdin, docker=docker, env=env)
    path = lock_path(source, output)
    if not report.ok:
        return LockResult(report, str(path))
    old = read_lock(path, source) if path.exists() else None
    merged, changes = relock(old, lock_from(report, _dockerfile_key(source, path)))
    text = dumps(merged)
    written = _write_if_changed(path, text)
    return LockResult(report, str(path), merged, changes, written)


def _write_if_changed(path: Path, text: str) -> bool:
    """Replace *path* in one step (a crash leaves the old lock or the new one, never half of
    one), keeping its permissions."""
    data = text.encode("utf-8")
    try:
        if path.exists() and path.read_bytes() == data:
            return False
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                         delete=False) as handle:
            handle.write(data)
        os.chmod(handle.name, mode)
        os.replace(handle.name, path)
    except OSError as exc:
        raise ExecutionError(f"cannot write the lock file {path}: {exc.strerror or exc}"
                             ) from None
    return True


def pin(path: str = ".", *, dockerfile: str | None = None,
        build_args: Mapping[str, str] | None = None, target: str | None = None,
        platforms: Sequence[str] = (), builder_rules: str | None = None,
        docker: str | None = None, client: TrustClient | None = None,
        config: str | None = None, offline: bool = False,
        env: Mapping[str, str] | None = None, stdin: bytes | None = None,
        locked: bool | str = False) -> PinnedDockerfile:
    """The pinned Dockerfile (``trustbuild pin``).  Raises :class:`trustbuild.errors.Refused`
    or :class:`trustbuild.errors.TrustError` unless every image is trusted (or let through by
    the policy).  *locked*: pin to the lock's digests (``pin --locked``)."""
    request = _request(path, dockerfile, build_args, target, platforms, env)
    return _check(request, builder_rules, docker, client, config, offline, env, stdin, locked,
                  gate=False).pinned()


@dataclass(frozen=True, slots=True)
class BuildResult:
    """``exit_code``: docker's exit status, or the check's when docker was not started."""

    exit_code: int
    report: CheckReport


def _request(path: str, dockerfile: str | None, build_args: Mapping[str, str] | None,
             target: str | None, platforms: Sequence[str],
             env: Mapping[str, str] | None) -> BuildRequest:
    """The build the library's arguments describe, with what docker adds: the proxy build
    args of config.json and DOCKER_DEFAULT_PLATFORM's platform."""
    return BuildRequest(path, dockerfile, with_proxy_build_args(build_args or {}, env),
                        target, platforms_or_default(platforms, env))


def request_from(cmd: BuildCommand, env: Mapping[str, str]) -> BuildRequest:
    """The build a docker command line describes."""
    return BuildRequest(cmd.context or ".", cmd.file,
                        with_proxy_build_args(build_args_from(cmd.values("build-arg"), env),
                                              env), cmd.last("target"),
                        platforms_or_default(cmd.values("platform"), env))


def build(argv: Sequence[str], *, docker: str | None = None, buildx: bool = False,
          client: TrustClient | None = None, env: Mapping[str, str] | None = None,
          say: Say | None = None, stdin: bytes | None = None, config: str | None = None,
          offline: bool = False, locked: bool | str = False) -> BuildResult:
    """``trustbuild build``: check, then run docker on the pinned copy.  *argv* is docker
    build's command line; *say* receives one line per image (default: standard error).
    *locked*: build on the lock's digests (``build --locked``)."""
    return build_command(parse_docker_args(list(argv)), docker=docker, buildx=buildx,
                         client=client, env=env, say=say, stdin=stdin, config=config,
                         offline=offline, locked=locked)


def build_command(cmd: BuildCommand, *, docker: str | None = None, buildx: bool = False,
                  client: TrustClient | None = None, env: Mapping[str, str] | None = None,
                  say: Say | None = None, stdin: bytes | None = None,
                  config: str | None = None, offline: bool = False,
                  locked: bool | str = False) -> BuildResult:
    env = dict(os.environ if env is None else env)
    refuse_unsupported(cmd)
    binary = docker_binary(docker, env)
    client = client or trust_client(cmd.context, config=config, offline=offline, env=env)
    reader = decide_reader(None, docker=binary, env=env, buildx=buildx, building=True,
                           builder_name=cmd.last("builder"))
    if cmd.file == "-" and stdin is None:
        stdin = sys.stdin.buffer.read()
    request = request_from(cmd, env)
    report: CheckReport
    if locked is not False:
        source, report = locked_check_request(request, reader, client, stdin,
                                              _lock_file(locked), gate=False, docker=binary,
                                              env=env)
    else:
        source, report = check_request(request, reader, client, stdin, docker=binary, env=env)
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    from trustbuild._internal import output

    for line in output.verdict_lines(report, quiet=cmd.quiet):
        say(line)
    if not report.passes:
        return BuildResult(report.exit_code, report)
    docker_environment = docker_env(env, None if buildx else reader.docker_buildkit)
    pinned = report.pinned()
    with build_guard() as signals, pinned_copy(pinned.text, source.name, source.path) as path:
        args = cmd.rewritten(str(path), dict(pinned.build_args))
        prefix = [binary, "buildx", "build"] if buildx else [binary, "build"]
        code = run_docker([*prefix, *args], docker_environment,
                          stdin_consumed=cmd.file == "-", signals=signals)
    return BuildResult(code, report)


def scan(paths: Sequence[str] = (".",), *, exclude: Sequence[str] = (),
         build_args: Mapping[str, str] | None = None, builder_rules: str | None = None,
         docker: str | None = None, client: TrustClient | None = None,
         config: str | None = None, offline: bool = False,
         env: Mapping[str, str] | None = None, progress: Progress | None = None
         ) -> ScanReport:
    """``trustbuild scan``: find the Dockerfiles under *paths* (*exclude* patterns, and in a
    git repository what it ignores and does not track, skip files) and check each as
    :func:`check` would, its directory being its build context; every distinct image is
    resolved once for the whole run.  No Dockerfile found raises
    :class:`trustbuild.errors.UsageError`."""
    from trustbuild._internal.policy import PROJECT_FILE, load
    from trustbuild._internal.scan import find_dockerfiles, scan_files

    paths, exclude = _strings(paths, "paths"), _strings(exclude, "exclude")
    env = dict(os.environ if env is None else env)
    chosen = decide_reader(builder_rules, docker=docker, env=env)
    files = find_dockerfiles(list(paths) or ["."], exclude)
    if not files:
        raise UsageError(f"scan: no Dockerfile under {', '.join(paths) or '.'} (looked for "
                         "Dockerfile, Containerfile, *.Dockerfile, Dockerfile.* and the same "
                         "for Containerfile, in any case, outside what git ignores and "
                         "--exclude skips)")
    clients: dict[tuple[str, ...], TrustClient] = {}
    shared = None  # the policy of every context without a project file of its own

    def client_for(context: Path) -> TrustClient:
        nonlocal shared
        if client is not None:
            return client
        if (context / PROJECT_FILE).is_file():
            policy = load(config=config, context=str(context), env=env)
        else:
            shared = shared or load(config=config, context=None, env=env)
            policy = shared
        key = tuple(policy.files)  # one client (and one resolve_many) per policy
        if key not in clients:
            clients[key] = TrustClient(env=env, offline=offline, policy=policy,
                                       progress=progress)
        return clients[key]

    return scan_files(files, reader=chosen,
                      build_args=with_proxy_build_args(build_args or {}, env),
                      client_for=client_for, paths=list(paths),
                      onbuild_for=lambda c: onbuild_reader(c, docker=docker, env=env).read,
                      platforms=platforms_or_default((), env))


def _strings(values: Sequence[str], name: str) -> list[str]:
    """*values* as a list of strings; one string where a list is wanted (which would be read
    a character at a time) is a usage error."""
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{name} must be a list of strings, not {values!r}")
    return list(values)


@dataclass(frozen=True, slots=True)
class InspectResult:
    """One repository's signed tags (``report``), or why they could not be read
    (``error``)."""

    image: str
    report: RepositoryReport | None = None
    error: TrustError | None = None

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.error is None else self.error.exit_code


def inspect(images: Sequence[str], *, client: TrustClient | None = None,
            config: str | None = None, offline: bool = False,
            env: Mapping[str, str] | None = None) -> list[InspectResult]:
    """Each repository's signed tags, digests and signing roles, like ``docker trust
    inspect``: ``trustbuild inspect``.  A malformed image name raises
    :class:`trustbuild.errors.InvalidReferenceError`; trust failures are results."""
    from trustbuild._internal.reference import parse_normalized

    images = _strings(images, "images")
    for image in images:
        try:
            parse_normalized(image)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(f"{image}: {exc}") from None
    client = client or trust_client(".", config=config, offline=offline, env=env)
    results = []
    for image in images:
        try:
            results.append(InspectResult(image, report=client.inspect(image)))
        except TrustError as exc:
            results.append(InspectResult(image, error=exc))
    return results
