from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from trustbuild._internal.runner import (
    build_guard,
    docker_env,
    parse_bool,
    pinned_copy,
    run_docker,
)
from trustbuild.errors import ExecutionError, UsageError


def test_docker_gets_no_content_trust_and_docker_buildkit_only_where_needed() -> None:
    env = {"DOCKER_CONTENT_TRUST": "1", "DOCKER_HOST": "unix:///x"}
    assert docker_env(env, None) == {"DOCKER_HOST": "unix:///x"}
    assert docker_env(env, "0") == {"DOCKER_HOST": "unix:///x", "DOCKER_BUILDKIT": "0"}
    # the user's own setting is theirs (trustbuild read it to choose the rules)
    assert docker_env({**env, "DOCKER_BUILDKIT": "1"}, "0")["DOCKER_BUILDKIT"] == "1"

def test_docker_buildkit_is_read_as_docker_reads_it() -> None:
    assert parse_bool("true", "DOCKER_BUILDKIT") and not parse_bool("0", "DOCKER_BUILDKIT")
    with pytest.raises(UsageError, match="expects boolean"):
        parse_bool("maybe", "DOCKER_BUILDKIT")

def test_pinned_copy_keeps_the_dockerignore_and_is_removed(tmp_path: Path) -> None:
    original = tmp_path / "app.Dockerfile"
    original.write_text("FROM x\n")
    (tmp_path / "app.Dockerfile.dockerignore").write_text("secret\n")
    with pinned_copy("FROM x@sha256:1\n", original.name, original) as path:
        assert path.name == "app.Dockerfile" and path.read_text() == "FROM x@sha256:1\n"
        assert (path.parent / "app.Dockerfile.dockerignore").read_text() == "secret\n"
        workdir = path.parent
    assert not workdir.exists()
    with pytest.raises(RuntimeError), pinned_copy("x", "Dockerfile", None) as path:
        workdir = path.parent
        raise RuntimeError("boom")
    assert not workdir.exists()


def test_a_pinned_copy_that_cannot_be_written_is_one_clear_error() -> None:
    with pytest.raises(ExecutionError, match="cannot write the pinned copy"), \
            pinned_copy("FROM x\n", "no-such-dir/Dockerfile", None):
        pass


def test_run_docker_exit_status_and_signals() -> None:
    env = dict(os.environ)
    assert run_docker(["sh", "-c", "exit 7"], env, stdin_consumed=False) == 7
    assert run_docker(["sh", "-c", "kill -TERM $$"], env, stdin_consumed=False) == 128 + 15
    with pytest.raises(ExecutionError, match="cannot run docker"):
        run_docker(["/nonexistent/docker"], env, stdin_consumed=False)


def test_run_docker_child_gets_default_sigpipe_and_no_stdin(
        capfd: pytest.CaptureFixture[str]) -> None:
    """Python ignores SIGPIPE; docker must not inherit that.  A consumed stdin is /dev/null."""
    env = dict(os.environ)
    assert run_docker(["sh", "-c", "grep SigIgn /proc/self/status; cat; echo end"], env,
                      stdin_consumed=True) == 0
    out = capfd.readouterr().out
    ignored = int(out.split()[1], 16)
    assert not ignored & (1 << (13 - 1)), "SIGPIPE is ignored in the child"
    assert out.rstrip().endswith("end")


SIGNAL_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from trustbuild._internal.runner import build_guard, pinned_copy, run_docker
from trustbuild.errors import Interrupted
try:
    with build_guard() as signals, pinned_copy("FROM x\\n", "Dockerfile", None) as path:
        print(path.parent, flush=True)
        if sys.argv[1] == "docker":
            code = run_docker(["sh", "-c", "trap 'exit 9' HUP QUIT TERM INT; echo started; "
                               "while :; do sleep 0.05; done"], dict(os.environ),
                              stdin_consumed=True, signals=signals)
            print("docker", code, flush=True)
        else:
            print("started", flush=True)
            time.sleep(30)
except Interrupted as exc:
    print("interrupted", exc.exit_code, flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM,
                                    signal.SIGINT])
@pytest.mark.parametrize("phase", ["docker", "before-docker"])
def test_every_catchable_signal_is_forwarded_and_the_temp_dir_removed(
        signum: int, phase: str, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SIGNAL_SCRIPT, phase], text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.stdout is not None
    workdir = Path(proc.stdout.readline().strip())
    assert proc.stdout.readline().strip() == "started"
    assert workdir.is_dir()
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=30)
    if phase == "docker":
        assert out.split() == ["docker", "9"]  # docker got the signal and chose its status
    else:
        assert out.split() == ["interrupted", str(128 + signum)]
    assert not workdir.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_docker_command_line_is_logged_without_secrets() -> None:
    from trustbuild._internal.runner import shown_argv

    argv = ["docker", "build", "--build-arg", "NPM_TOKEN=s3cr3t", "--build-arg=A=b",
            "--secret", "id=x,src=/k", "--build-arg",
            "HTTPS_PROXY=http://bob:pw@proxy:3128", "-t", "app", "git://u:p@h/r.git"]
    shown = " ".join(shown_argv(argv))
    for secret in ("s3cr3t", "id=x", "bob", ":pw@", "u:p@"):
        assert secret not in shown, shown
    assert "NPM_TOKEN=***" in shown and "--build-arg=A=***" in shown and "-t app" in shown


def test_a_signal_while_docker_starts_is_forwarded_once_it_runs() -> None:
    """Between starting docker and knowing its process, a signal must not stop trustbuild
    alone (leaving docker running): it is held and then forwarded."""
    with build_guard() as signals:
        def start() -> subprocess.Popen[bytes]:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            signals._handle(signal.SIGTERM, None)  # as if it arrived right now
            return child

        child = signals.launch(start)
        assert child.wait(timeout=10) == -signal.SIGTERM
