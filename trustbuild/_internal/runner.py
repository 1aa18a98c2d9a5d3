"""Running docker: which builder it will use, and the build itself on a pinned copy.

The pinned Dockerfile goes into a private temp dir under the user's file name (with its
``<name>.dockerignore``, so the context is the same), docker gets ``--file`` pointing at it,
its output streams through, SIGINT and SIGTERM are forwarded, its exit status comes back, and
the temp dir is removed on every path.

``check`` and ``pin`` use only the builder choice here, usually without starting a process, so
the process and file modules are imported where they are used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trustbuild._internal.dockerfile import Builder
from trustbuild.errors import UsageError

if TYPE_CHECKING:
    import subprocess
    from types import FrameType

FALSE_WORDS = ("0", "f", "false")
TRUE_WORDS = ("1", "t", "true")


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise UsageError(f"{name} environment variable expects boolean value: {value!r}")


def choose_builder(docker: str, env: Mapping[str, str], *, buildx: bool,
                   building: bool = True) -> Builder:
    """The builder docker will use for this command.  trustbuild then sets DOCKER_BUILDKIT
    for docker explicitly, so the images checked are the images the build pulls.

    Without *building* (``check``, ``pin``), a machine with no docker CLI is fine: BuildKit,
    docker's default builder since 23.0, decides."""
    if buildx:
        return Builder.BUILDKIT
    value = env.get("DOCKER_BUILDKIT", "")
    if value:
        return Builder.BUILDKIT if parse_bool(value, "DOCKER_BUILDKIT") else Builder.CLASSIC
    try:
        major, has_buildx = _client_facts(docker)
    except UsageError:
        if building:
            raise
        return Builder.BUILDKIT
    if major is not None and major >= 23:
        # Docker 23+ builds with BuildKit through buildx, and falls back to the classic
        # builder when buildx is missing.
        return Builder.BUILDKIT if has_buildx else Builder.CLASSIC
    return Builder.CLASSIC


def _client_facts(docker: str) -> tuple[int | None, bool]:
    """The docker CLI's major version, and whether buildx is installed: asked at once, as
    each answer costs a CLI start (tens of milliseconds)."""
    import subprocess

    try:
        version = subprocess.Popen([docker, "--version"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                   text=True)
    except OSError as exc:
        raise UsageError(f"cannot run docker ({docker}): {exc.strerror or exc}") from None
    try:
        buildx: subprocess.Popen[bytes] | None = subprocess.Popen(
            [docker, "buildx", "version"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    except OSError:
        buildx = None
    try:
        out, _ = version.communicate(timeout=30)
        has_buildx = buildx is not None and buildx.wait(timeout=30) == 0
    except subprocess.TimeoutExpired:
        raise UsageError(f"{docker} --version did not answer within 30 s") from None
    finally:
        for child in (version, buildx):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    match = re.search(r"version (\d+)\.", out)
    return (int(match.group(1)) if match else None), has_buildx


def docker_env(env: Mapping[str, str], builder: Builder, *, buildx: bool) -> dict[str, str]:
    """docker's environment: the builder trustbuild checked for, and no DOCKER_CONTENT_TRUST
    (docker's classic-builder trust path would re-resolve the pinned ``name:tag@digest``
    lines with its own, weaker rules and put its own digest in place of trustbuild's)."""
    out = {k: v for k, v in env.items() if k != "DOCKER_CONTENT_TRUST"}
    if not buildx:
        out["DOCKER_BUILDKIT"] = "1" if builder is Builder.BUILDKIT else "0"
    return out


@contextlib.contextmanager
def pinned_copy(text: str, name: str, original: Path | None) -> Iterator[Path]:
    """A private temp dir holding *text* as *name* (and the Dockerfile-specific
    ``.dockerignore`` of *original*), removed afterwards whatever happens."""
    try:
        workdir = _private_dir()
    except OSError as exc:
        raise UsageError(f"cannot make a private temp dir for the pinned Dockerfile: "
                         f"{exc.strerror or exc}") from None
    try:
        path = workdir / name
        try:
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            if original is not None:
                ignore = original.with_name(original.name + ".dockerignore")
                if ignore.is_file():
                    (workdir / ignore.name).write_bytes(ignore.read_bytes())
        except OSError as exc:
            raise UsageError(f"cannot write the pinned copy of the Dockerfile: "
                             f"{exc.strerror or exc} ({exc.filename})") from None
        yield path
    finally:
        _remove_private_dir(workdir)


# The pinned copy and the docker run use os directly: tempfile, shutil and subprocess cost
# 8-17 ms to import here (compression modules, locale), a tenth of a build's overhead.

def _private_dir() -> Path:
    """As ``tempfile.mkdtemp(prefix="trustbuild-")``: mode 0700 under $TMPDIR or /tmp."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = Path(base) / f"trustbuild-{os.urandom(6).hex()}"
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for a temp dir in {base}")


def _remove_private_dir(workdir: Path) -> None:
    with contextlib.suppress(OSError):
        for entry in os.scandir(workdir):
            os.unlink(entry.path)  # only the files pinned_copy wrote
    with contextlib.suppress(OSError):
        os.rmdir(workdir)


def run_docker(argv: Sequence[str], env: Mapping[str, str], *, stdin_consumed: bool) -> int:
    """Run docker with output streaming through; forward SIGINT/SIGTERM; its exit status."""
    import signal

    program = _find_program(argv[0], env)
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)] if stdin_consumed else []
    try:
        # SIGPIPE and SIGXFSZ back to their defaults, as subprocess does (Python ignores them).
        pid = os.posix_spawn(program, list(argv), dict(env), file_actions=actions,
                             setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as exc:
        raise UsageError(f"cannot run docker ({argv[0]}): {exc.strerror or exc}") from None

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _, status = os.waitpid(pid, 0)  # PEP 475: retried after the handler runs
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _find_program(name: str, env: Mapping[str, str]) -> str:
    """*name* on the PATH of *env* (as the child would look it up), or *name* itself."""
    if "/" in name:
        return name
    for directory in (env.get("PATH") or os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return name  # posix_spawn then reports that it is not there


def onbuild_triggers(docker: str, env: Mapping[str, str], image: str) -> list[str]:
    """The ONBUILD triggers in the config of *image* (``name@digest``), from ``docker image
    inspect`` (pulling it by digest first when the engine lacks it), so that contexts and
    remote engines work as docker resolves them."""
    inspect = [docker, "image", "inspect", "--format", "{{json .Config.OnBuild}}", image]
    result = _docker_output(inspect, env)
    if result.returncode != 0:
        pulled = _docker_output([docker, "pull", "-q", image], env)
        if pulled.returncode != 0:
            raise UsageError(f"cannot pull {image} to read its ONBUILD triggers: "
                             f"{pulled.stderr.strip()[-300:]}")
        result = _docker_output(inspect, env)
        if result.returncode != 0:
            raise UsageError(f"cannot inspect {image}: {result.stderr.strip()[-300:]}")
    try:
        triggers = json.loads(result.stdout or "null")
    except ValueError:
        raise UsageError(f"docker image inspect gave no JSON for {image}") from None
    return _triggers(triggers, image)


def _triggers(value: object, image: str) -> list[str]:
    if value is None:
        return []
    if not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
        raise UsageError(f"unexpected ONBUILD value in the config of {image}")
    return list(value)


def _docker_output(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    import subprocess

    try:
        return subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=600,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"cannot run docker ({argv[0]}): {exc}") from None


def docker_binary(explicit: str | None, env: Mapping[str, str]) -> str:
    return explicit or env.get("TRUSTBUILD_DOCKER") or "docker"


def is_same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
