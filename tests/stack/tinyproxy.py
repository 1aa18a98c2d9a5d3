"""A real CONNECT proxy for the tests: Debian's tinyproxy on loopback, and host names for
trust servers that Go clients (and trustbuild) would proxy, through ``/etc/hosts``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.stack.services import StackError, find, free_port

HOSTS = Path("/etc/hosts")
_HOSTS_LOCK = threading.Lock()
START_TIMEOUT = 20.0


def ensure_tinyproxy() -> str:
    """tinyproxy's path, installing Debian's package first when it is missing."""
    found = find("tinyproxy")
    if found:
        return found
    if os.geteuid() != 0:
        raise StackError("tinyproxy is missing and not root to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "tinyproxy"]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr}")
    # The package may start its own service on :8888; the tests run their own instances.
    subprocess.run(["systemctl", "stop", "tinyproxy"], capture_output=True, check=False)
    found = find("tinyproxy")
    if not found:
        raise StackError("installed tinyproxy but it is still not found")
    return found


@dataclass
class Tinyproxy:
    port: int
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def connects(self) -> list[str]:
        """The ``host:port`` of every CONNECT the proxy was asked for."""
        return [line.split("CONNECT ", 2)[-1].split()[0] for line in self.log().splitlines()
                if "Request (file descriptor" in line and ": CONNECT " in line]


@contextlib.contextmanager
def running_tinyproxy(*, connect_ports: Sequence[int] = (),
                      basic_auth: tuple[str, str] | None = None) -> Iterator[Tinyproxy]:
    """tinyproxy on 127.0.0.1, allowing CONNECT to *connect_ports* only (none: any port)."""
    binary = ensure_tinyproxy()
    with tempfile.TemporaryDirectory(prefix="tb-tinyproxy-") as tmp:
        proxy = Tinyproxy(free_port(), Path(tmp) / "tinyproxy.log")
        lines = [f"Port {proxy.port}", "Listen 127.0.0.1", "Timeout 30",
                 f'LogFile "{proxy.log_file}"', "LogLevel Connect", "MaxClients 100",
                 "Allow 127.0.0.1"]
        lines += [f"ConnectPort {port}" for port in connect_ports]
        if basic_auth is not None:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        config = Path(tmp) / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        proc = subprocess.Popen([binary, "-d", "-c", str(config)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(proxy.port, proc)
            yield proxy
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"tinyproxy exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise StackError("tinyproxy did not start listening")


@contextlib.contextmanager
def hosts_entry(name: str, address: str = "127.0.0.1") -> Iterator[str]:
    """``address name`` in /etc/hosts while the block runs: added once (idempotent), and
    removed afterwards, leaving every other line as it was."""
    line = f"{address} {name}  # trustbuild tests, pid {os.getpid()}"
    with _HOSTS_LOCK:
        text = HOSTS.read_text()
        added = line not in text.splitlines()
        if added:
            HOSTS.write_text(text + ("" if text.endswith("\n") or not text else "\n")
                             + line + "\n")
    try:
        yield name
    finally:
        if added:
            with _HOSTS_LOCK:
                kept = [x for x in HOSTS.read_text().splitlines() if x != line]
                HOSTS.write_text("\n".join(kept) + "\n")
