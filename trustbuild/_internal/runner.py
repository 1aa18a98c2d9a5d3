"""Running docker: which builder it will use, and the build itself on a pinned copy.

The pinned Dockerfile goes into a private temp dir under the user's file name (with its
``<name>.dockerignore``, so the context is the same), docker gets ``--file`` pointing at it,
its output streams through, SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded, its exit status
comes back, and the temp dir is removed on every path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

from trustbuild.errors import ExecutionError, Interrupted, UsageError

log = logging.getLogger(__name__)

FALSE_WORDS = ("0", "f", "false")
TRUE_WORDS = ("1", "t", "true")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
DOCKER_QUERY_TIMEOUT = 30


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise UsageError(f"{name} environment variable expects boolean value: {value!r}")


def docker_env(env: Mapping[str, str], docker_buildkit: str | None) -> dict[str, str]:
    """docker's environment: no DOCKER_CONTENT_TRUST (docker's classic-builder trust path
    would re-resolve the pinned ``name:tag@digest`` lines with its own, weaker rules and put
    its own digest in place of trustbuild's), and ``DOCKER_BUILDKIT`` only where the reader
    trustbuild checked for needs it set (see ``ReaderChoice.docker_buildkit``): otherwise
    the user's setting, or docker's own choice, which is the one trustbuild detected.  So
    docker never advises about a variable the user did not set."""
    out = {k: v for k, v in env.items() if k != "DOCKER_CONTENT_TRUST"}
    if docker_buildkit is not None and not env.get("DOCKER_BUILDKIT"):
        out["DOCKER_BUILDKIT"] = docker_buildkit  # unset, or empty (which docker 20.10
        #                                            reads as unset)
    return out


class _Signals:
    """While a build is prepared and runs, the signals that end a process in a terminal go to
    docker; before docker starts they stop trustbuild, which still removes its temp dir."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self._previous: dict[int, object] = {}
        self._launching = False
        self._pending: int | None = None

    def launch(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """Start docker; a signal that arrives while it starts is held and then forwarded
        to it, so docker is never left running without trustbuild."""
        self._launching = True
        try:
            child = start()
        finally:
            self._launching = False
        self.child = child
        if self._pending is not None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(self._pending)
        return child

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in FORWARDED_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._launching and self.child is None:
            self._pending = signum
            return
        if self.child is None or self.child.poll() is not None:
            raise Interrupted(signum)
        with contextlib.suppress(ProcessLookupError):
            self.child.send_signal(signum)


@contextlib.contextmanager
def build_guard() -> Iterator[_Signals]:
    """Signals forwarded to docker (see :class:`_Signals`) for the length of a build."""
    with _Signals() as signals:
        yield signals


@contextlib.contextmanager
def pinned_copy(text: str, name: str, original: Path | None) -> Iterator[Path]:
    """A private temp dir holding *text* as *name* (and the Dockerfile-specific
    ``.dockerignore`` of *original*), removed afterwards whatever happens."""
    try:
        workdir = Path(tempfile.mkdtemp(prefix="trustbuild-"))  # mode 0700
    except OSError as exc:
        raise ExecutionError(f"cannot make a private temp dir for the pinned Dockerfile: "
                             f"{exc.strerror or exc}") from None
    try:
        path = workdir / name
        try:
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            if original is not None:
                ignore = original.with_name(original.name + ".dockerignore")
                if ignore.is_file():
                    shutil.copyfile(ignore, workdir / ignore.name)
        except OSError as exc:
            raise ExecutionError(f"cannot write the pinned copy of the Dockerfile: "
                                 f"{exc.strerror or exc} ({exc.filename})") from None
        yield path
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_docker(argv: Sequence[str], env: Mapping[str, str], *, stdin_consumed: bool,
               signals: _Signals | None = None) -> int:
    """Run docker with its output streaming through; its exit status (128 + N when a signal
    N ended it).  With *signals*, the forwarded signals reach it."""
    log.info("running %s", " ".join(shown_argv(argv)))
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(argv), env=dict(env),
                                stdin=subprocess.DEVNULL if stdin_consumed else None)

    try:
        child = signals.launch(start) if signals is not None else start()
    except OSError as exc:
        raise ExecutionError(f"cannot run docker ({argv[0]}): {exc.strerror or exc}") from None
    try:
        code = child.wait()
    finally:
        if signals is not None:
            signals.child = None
        if child.poll() is None:  # trustbuild itself is stopping: docker goes too
            child.kill()
            child.wait()
    return 128 - code if code < 0 else code


_SECRET_VALUED = ("--build-arg", "--secret", "--ssh")
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def shown_argv(argv: Sequence[str]) -> list[str]:
    """*argv* for a log: build args' values, secrets and credentials in URLs left out (a
    build arg often carries a token or a proxy password)."""
    shown: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            key, eq, _ = word.partition("=")
            shown.append(f"{key}=***" if eq else "***")
            hide_next = False
            continue
        flag, eq, value = word.partition("=")
        if flag in _SECRET_VALUED:
            if eq:
                key, eq2, _ = value.partition("=")
                shown.append(f"{flag}={key}=***" if eq2 else f"{flag}=***")
            else:
                shown.append(word)
                hide_next = True
            continue
        shown.append(_URL_CREDENTIALS.sub(r"\1***@", word))
    return shown


ONBUILD_FORMAT = "{{json .Config.OnBuild}}"
PLATFORM_FORMAT = "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}"


def engine_onbuild(docker: str, env: Mapping[str, str], image: str) -> list[str] | None:
    """The ONBUILD triggers in the config of *image* (``name@digest``) as the engine has it,
    asked of the docker CLI, which reaches the engine the way the build will (contexts,
    ``DOCKER_HOST``, TLS); None when the engine does not have the image.  Raises
    :class:`ExecutionError` when docker cannot be asked."""
    found = _inspect(docker, env, image, ONBUILD_FORMAT)
    if found is None:
        return None
    try:
        triggers = json.loads(found or "null")
    except (ValueError, RecursionError):
        raise ExecutionError(f"docker image inspect gave no JSON for {image}") from None
    if triggers is None:
        return []
    if not (isinstance(triggers, list) and all(isinstance(t, str) for t in triggers)):
        raise ExecutionError(f"unexpected ONBUILD value in the config of {image}")
    return list(triggers)


def engine_platform(docker: str, env: Mapping[str, str], image: str) -> str | None:
    """The platform (``os/arch[/variant]``) of the engine's copy of *image*; None when the
    engine does not have it."""
    found = _inspect(docker, env, image, PLATFORM_FORMAT)
    return found.strip() if found is not None else None


def pull_image(docker: str, env: Mapping[str, str], image: str, platform: str | None) -> None:
    """``docker pull`` *image* (by digest) into the engine, for *platform* when given."""
    argv = [docker, "pull", "-q", *(["--platform", platform] if platform else []), image]
    log.info("pulling %s%s into the engine to read its ONBUILD triggers", image,
             f" for {platform}" if platform else "")
    _docker_output(argv, env, what=f"cannot pull {image}")


def _inspect(docker: str, env: Mapping[str, str], image: str, template: str) -> str | None:
    result = _docker_output([docker, "image", "inspect", "--format", template, image], env,
                            check=False)
    if result.returncode == 0:
        return result.stdout
    detail = result.stderr.strip()
    if "no such" in detail.lower():
        return None
    detail = detail[-300:] or f"docker image inspect exited {result.returncode}"
    raise ExecutionError(f"cannot ask the engine about {image}: {detail}")


def _docker_output(argv: list[str], env: Mapping[str, str], *, check: bool = True,
                   what: str = "") -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, env=dict(env), capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=DOCKER_QUERY_TIMEOUT
                                if argv[1:2] != ["pull"] else 600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExecutionError(f"cannot run docker ({argv[0]}): "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    if check and result.returncode != 0:
        detail = result.stderr.strip()[-300:]
        raise ExecutionError(f"{what or ' '.join(argv[:3])}: {detail}")
    return result


def docker_binary(explicit: str | None, env: Mapping[str, str]) -> str:
    return explicit or env.get("TRUSTBUILD_DOCKER") or "docker"


def is_same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
