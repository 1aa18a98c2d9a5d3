"""A real local trust stack: dockerd, a distribution registry and notary-server.

Everything runs on this machine only, in private temp dirs, and is torn down afterwards:

* ``dockerd`` (Debian ``docker.io``) and the registry (Debian ``docker-registry``) run inside a
  network namespace of their own.  dockerd needs a bridge network for BuildKit's ``RUN`` steps;
  inside the namespace that bridge never touches the host's network.  dockerd pushes to and
  pulls from the registry on the namespace's loopback.
* trustbuild on the host reads manifests and configs from the registry the images are named
  after (``127.0.0.1:PORT``): a second, read-only registry process serves the same
  filesystem storage on the *host's* loopback at the same address (the namespace's loopback
  is a different one, so the port is free on the host).  Its access log is separate
  (``registry-host.log``), so ``registry.log`` still shows what dockerd fetched.
* ``notary-server`` (Debian ``notary``) runs on the host's loopback with a self-signed TLS
  certificate (the docker CLI talks to trust servers over https only), memory storage and the
  local trust service, so trustbuild, the docker CLI and the notary CLI can all reach it.

The docker CLI reaches dockerd through a unix socket, which crosses network namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEBIAN_PACKAGES = {
    "dockerd": "docker.io",
    "docker-registry": "docker-registry",
    "notary-server": "notary",
    "busybox": "busybox-static",
    "openssl": "openssl",
    "ip": "iproute2",
    "nsenter": "util-linux",
}
DOCKER_CLI = "/usr/bin/docker"  # the docker.io package's CLI: classic builder and BuildKit
START_TIMEOUT = 60.0


class StackError(RuntimeError):
    """The local stack could not be installed or started."""


def ensure_packages() -> None:
    """Install the Debian packages the stack needs when any of their binaries is missing."""
    missing = sorted({pkg for binary, pkg in DEBIAN_PACKAGES.items() if not _have(binary)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise StackError(f"missing Debian packages {missing} and not root to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr}")
    still = [b for b in DEBIAN_PACKAGES if not _have(b)]
    if still:
        raise StackError(f"installed {missing} but {still} still not found")


def _have(binary: str) -> bool:
    if binary == "dockerd" and not Path(DOCKER_CLI).exists():
        return False
    return find(binary) is not None


def find(binary: str) -> str | None:
    """``shutil.which`` that also looks in the sbin dirs a non-login PATH may lack."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(binary, path=path)


def _binary(name: str) -> str:
    found = find(name)
    if found is None:
        raise StackError(f"{name} not found")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    """Addresses and files of a running stack."""

    root: Path
    docker_host: str
    registry: str
    notary_url: str
    notary_ca: Path
    netns: str
    _procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list, repr=False)

    @property
    def notary_hostport(self) -> str:
        return self.notary_url.removeprefix("https://")

    def docker_config(self, path: Path) -> Path:
        """Make a docker config dir at *path* that trusts the notary-server's certificate."""
        tls = path / "tls" / self.notary_hostport
        tls.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.notary_ca, tls / "ca.crt")
        config = path / "config.json"
        if not config.exists():
            config.write_text("{}\n")
        return path

    def env(self, docker_config: Path) -> dict[str, str]:
        """Environment for docker CLI, notary CLI and trustbuild against this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(
            DOCKER_HOST=self.docker_host,
            DOCKER_CONFIG=str(docker_config),
            DOCKER_CONTENT_TRUST_SERVER=self.notary_url,
        )
        return env

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running_stack(keep: bool = False) -> Iterator[Stack]:
    """Start dockerd, the registry and notary-server; stop them and remove every file after."""
    ensure_packages()
    root = Path(tempfile.mkdtemp(prefix="tbstack-", dir="/tmp"))
    netns = f"tbstack-{os.getpid()}"
    stack = Stack(
        root=root,
        docker_host=f"unix://{root}/docker.sock",
        registry=f"127.0.0.1:{free_port()}",
        notary_url=f"https://127.0.0.1:{free_port()}",
        notary_ca=root / "notary" / "server.crt",
        netns=netns,
    )
    try:
        _make_netns(netns)
        _start_notary(stack)
        _start_registry(stack)
        _start_dockerd(stack)
        _wait_all(stack)
        yield stack
    finally:
        _stop(stack)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _make_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    for cmd in (["ip", "netns", "add", name], ["ip", "netns", "exec", name, "ip", "link", "set",
                                                "lo", "up"]):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"cannot create network namespace: {' '.join(cmd)}: {result.stderr}")


def _in_netns(stack: Stack, argv: list[str]) -> list[str]:
    # nsenter switches only the network namespace; `ip netns exec` would also remount /sys,
    # which hides the cgroup mounts dockerd needs.
    return [_binary("nsenter"), f"--net=/var/run/netns/{stack.netns}", *argv]


def _spawn(stack: Stack, name: str, argv: list[str]) -> None:
    log = open(stack.root / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child process
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    stack._procs.append((name, proc))


def _start_notary(stack: Stack) -> None:
    ndir = stack.root / "notary"
    ndir.mkdir()
    key = ndir / "server.key"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(stack.notary_ca), "-days", "3",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"openssl could not make the notary-server certificate: {result.stderr}")
    config = ndir / "server.json"
    config.write_text(json.dumps({
        "server": {"http_addr": stack.notary_hostport, "tls_cert_file": str(stack.notary_ca),
                   "tls_key_file": str(key)},
        "trust_service": {"type": "local", "hostname": "", "port": "",
                          "key_algorithm": "ed25519"},
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }))
    _spawn(stack, "notary-server", [_binary("notary-server"), "-config", str(config)])


@dataclass(frozen=True)
class ExtraNotary:
    url: str
    ca: Path

    @property
    def hostport(self) -> str:
        return self.url.removeprefix("https://")


@contextlib.contextmanager
def extra_notary(stack: Stack, name: str) -> Iterator[ExtraNotary]:
    """A second notary-server (its own port, certificate and memory store) for tests that
    need one trust server per registry."""
    port = free_port()
    other = Stack(stack.root / name, stack.docker_host, stack.registry,
                  f"https://127.0.0.1:{port}", stack.root / name / "notary" / "server.crt",
                  stack.netns)
    other.root.mkdir()
    try:
        _start_notary(other)
        ctx = ssl.create_default_context(cafile=str(other.notary_ca))
        deadline = time.monotonic() + START_TIMEOUT
        while not _http_ok(f"{other.notary_url}/_notary_server/health", ctx):
            _fail_if_exited(other, "notary-server")
            if time.monotonic() > deadline:
                raise StackError(f"second notary-server did not start:\n"
                                 f"{other.log('notary-server')[-2000:]}")
            time.sleep(0.2)
        yield ExtraNotary(other.notary_url, other.notary_ca)
    finally:
        _stop(other)


REGISTRY_ACCESS_LOG = True  # one line per request in registry.log (tests/stack/observe.py)


def _start_registry(stack: Stack, access_log: bool = REGISTRY_ACCESS_LOG) -> None:
    storage = stack.root / "registry-data"
    storage.mkdir(exist_ok=True)
    config = stack.root / "registry.yml"
    config.write_text(_registry_config(stack, storage, access_log, read_only=False))
    _spawn(stack, "registry", _in_netns(stack, [_binary("docker-registry"), "serve", str(config)]))
    host_config = stack.root / "registry-host.yml"
    host_config.write_text(_registry_config(stack, storage, True, read_only=True))
    _spawn(stack, "registry-host", [_binary("docker-registry"), "serve", str(host_config)])


def _registry_config(stack: Stack, storage: Path, access_log: bool, *, read_only: bool) -> str:
    """Filesystem storage shared by both registry processes; the host's is read-only and
    never purges uploads (the namespace's registry writes)."""
    maintenance = ("  maintenance:\n    readonly:\n      enabled: true\n"
                   "    uploadpurging:\n      enabled: false\n") if read_only else ""
    accesslog = f"  accesslog:\n    disabled: {'false' if access_log else 'true'}\n"
    return (f"version: 0.1\nlog:\n  level: warn\n{accesslog}storage:\n  filesystem:\n"
            f"    rootdirectory: {storage}\n{maintenance}http:\n  addr: {stack.registry}\n")


def _start_dockerd(stack: Stack) -> None:
    for sub in ("data", "exec"):
        (stack.root / sub).mkdir()
    _spawn(stack, "dockerd", _in_netns(stack, [
        _binary("dockerd"),
        "--data-root", str(stack.root / "data"),
        "--exec-root", str(stack.root / "exec"),
        "-H", stack.docker_host,
        "--pidfile", str(stack.root / "docker.pid"),
        "--storage-driver", os.environ.get("TRUSTBUILD_STACK_STORAGE_DRIVER", "vfs"),
        "--iptables=false", "--ip6tables=false", "--ip-masq=false",
    ]))


def _wait_all(stack: Stack) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    ctx = ssl.create_default_context(cafile=str(stack.notary_ca))
    checks = {
        "notary-server": lambda: _http_ok(f"{stack.notary_url}/_notary_server/health", ctx),
        "dockerd": lambda: _docker_ok(stack),
        "registry": lambda: _registry_ok(stack),
        "registry-host": lambda: _http_ok(f"http://{stack.registry}/v2/"),
    }
    pending = dict(checks)
    while pending:
        for name in list(pending):
            _fail_if_exited(stack, name)
            if pending[name]():
                del pending[name]
        if pending and time.monotonic() > deadline:
            names = ", ".join(pending)
            tails = "\n".join(f"--- {n}.log\n{stack.log(n)[-3000:]}" for n in pending)
            raise StackError(f"{names} did not come up within {START_TIMEOUT:.0f}s\n{tails}")
        if pending:
            time.sleep(0.2)


def _fail_if_exited(stack: Stack, name: str) -> None:
    for pname, proc in stack._procs:
        if pname == name and proc.poll() is not None:
            raise StackError(f"{name} exited with status {proc.returncode}:\n"
                             f"{stack.log(name)[-3000:]}")


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _docker_ok(stack: Stack) -> bool:
    result = subprocess.run([DOCKER_CLI, "-H", stack.docker_host, "version"], capture_output=True,
                            check=False, timeout=30)
    return result.returncode == 0


def _registry_ok(stack: Stack) -> bool:
    argv = _in_netns(stack, ["busybox", "wget", "-q", "-O", "-", f"http://{stack.registry}/v2/"])
    result = subprocess.run(argv, capture_output=True, check=False, timeout=10)
    return result.returncode == 0


def _stop(stack: Stack) -> None:
    for _, proc in reversed(stack._procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for _, proc in reversed(stack._procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    _unmount_below(stack.root)


def _unmount_below(root: Path) -> None:
    """Lazily unmount anything dockerd or containerd left mounted under *root*."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(root))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def run(argv: list[str], env: Mapping[str, str], *, check: bool = True,
        input: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a client command; on failure raise with its output so test logs say why."""
    result = subprocess.run(argv, env=dict(env), capture_output=True, input=input,
                            timeout=timeout, check=False)
    done = subprocess.CompletedProcess(argv, result.returncode,
                                       result.stdout.decode(errors="replace"),
                                       result.stderr.decode(errors="replace"))
    if check and result.returncode != 0:
        raise StackError(f"{' '.join(argv)} exited {result.returncode}\n"
                         f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}")
    return done
