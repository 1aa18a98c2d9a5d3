"""Publishes test images to the local stack and signs them the ways real users do.

* legacy ``targets``: ``DOCKER_CONTENT_TRUST=1 docker push``;
* ``targets/releases``: an RSA 2048 key and self-signed certificate made with openssl, as
  Docker's delegation guide shows, added with ``notary delegation add`` and used through
  ``notary addhash … --roles targets/releases``;
* another delegation (``targets/<name>``) the same way;
* unsigned tags (a plain ``docker push``) and repositories with no trust data at all.

Images are made without network: ``docker import`` of a tarball holding Debian's static busybox
and a marker file, so every (repository, tag) gets its own digest.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.stack.services import DOCKER_CLI, Stack, StackError, run

PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "tb-root-passphrase",
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": "tb-repo-passphrase",
    "NOTARY_ROOT_PASSPHRASE": "tb-root-passphrase",
    "NOTARY_TARGETS_PASSPHRASE": "tb-repo-passphrase",
    "NOTARY_SNAPSHOT_PASSPHRASE": "tb-repo-passphrase",
    "NOTARY_DELEGATION_PASSPHRASE": "tb-delegation-passphrase",
}
BUSYBOX_APPLETS = ("sh", "echo", "cat", "ls", "true", "false", "test", "sleep", "mkdir", "cp")
_PUSHED = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


@dataclass(frozen=True)
class Published:
    """One pushed tag and how it was signed (``role`` None: unsigned)."""

    repo: str  # registry/name
    tag: str
    digest: str
    size: int
    role: str | None

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}"


class Publisher:
    """Pushes and signs images on a :class:`Stack` with the real docker and notary CLIs."""

    def __init__(self, stack: Stack, workdir: Path, *, notary_url: str | None = None,
                 notary_ca: Path | None = None) -> None:
        """Publishes to the stack's notary-server, or to the one given."""
        self.stack = stack
        self.workdir = workdir
        self.notary_url = notary_url or stack.notary_url
        self.notary_ca = notary_ca or stack.notary_ca
        workdir.mkdir(parents=True, exist_ok=True)
        self.docker_config = stack.docker_config(workdir / "docker-config")
        if notary_url is not None and notary_ca is not None:
            tls = self.docker_config / "tls" / notary_url.removeprefix("https://")
            tls.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notary_ca, tls / "ca.crt")
        self.env = {**stack.env(self.docker_config), **PASSPHRASES,
                    "DOCKER_CONTENT_TRUST_SERVER": self.notary_url}
        self._initialised: set[str] = set()
        self._delegations: dict[tuple[str, str], bool] = {}
        self._delegation_keys: dict[str, Path] = {}

    # -- clients -------------------------------------------------------------------------------

    def docker(self, *args: str, trust: bool = False, check: bool = True) -> str:
        env = dict(self.env)
        env["DOCKER_CONTENT_TRUST"] = "1" if trust else "0"
        return run([DOCKER_CLI, *args], env, check=check).stdout

    def notary(self, *args: str, check: bool = True, answer: str | None = None) -> str:
        argv = ["notary", "-s", self.notary_url, "-d", str(self.docker_config / "trust"),
                "--tlscacert", str(self.notary_ca), *args]
        stdin = answer.encode() if answer is not None else None
        return run(argv, self.env, check=check, input=stdin).stdout

    def gun(self, name: str) -> str:
        """Names containing a registry host (``localhost:5000/x``) are used as they are."""
        first = name.split("/", 1)[0]
        if ":" in first or "." in first or first == "localhost":
            return name
        return f"{self.stack.registry}/{name}"

    # -- images --------------------------------------------------------------------------------

    def push_unsigned(self, name: str, tag: str, marker: str | None = None) -> Published:
        """Push a fresh image without touching trust data (*marker* goes in
        ``/etc/tb-image``; default ``repo:tag``)."""
        repo = self.gun(name)
        self._import(repo, tag, marker)
        digest, size = _pushed(self.docker("push", f"{repo}:{tag}"))
        return Published(repo, tag, digest, size, None)

    def push_rootfs(self, name: str, tag: str, tarball: Path,
                    changes: tuple[str, ...] = ()) -> Published:
        """Push an image made by ``docker import`` of the root filesystem *tarball* (each of
        *changes* a ``--change`` instruction), without touching trust data."""
        repo = self.gun(name)
        self.docker("import", *(f"--change={c}" for c in changes), str(tarball), f"{repo}:{tag}")
        digest, size = _pushed(self.docker("push", f"{repo}:{tag}"))
        return Published(repo, tag, digest, size, None)

    def sign_legacy(self, name: str, tag: str) -> Published:
        """``DOCKER_CONTENT_TRUST=1 docker push``: signs the tag into the top-level targets."""
        repo = self.gun(name)
        self._import(repo, tag)
        digest, size = _pushed(self.docker("push", f"{repo}:{tag}", trust=True))
        self._initialised.add(repo)
        return Published(repo, tag, digest, size, "targets")

    def build_and_sign(self, name: str, tag: str, dockerfile: str) -> Published:
        """``docker build`` (classic) an image from *dockerfile*, then sign it with
        ``DOCKER_CONTENT_TRUST=1 docker push``: for base images with ONBUILD triggers."""
        repo = self.gun(name)
        ctx = self.workdir / f"build-{name.replace('/', '-')}-{tag}"
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Dockerfile").write_text(dockerfile)
        env = {**self.env, "DOCKER_BUILDKIT": "0", "DOCKER_CONTENT_TRUST": "0"}
        run([DOCKER_CLI, "build", "-t", f"{repo}:{tag}", str(ctx)], env)
        digest, size = _pushed(self.docker("push", f"{repo}:{tag}", trust=True))
        self._initialised.add(repo)
        return Published(repo, tag, digest, size, "targets")

    def sign_delegation(self, name: str, tag: str, role: str = "targets/releases",
                        image: Published | None = None) -> Published:
        """Sign *tag* in delegation *role* with ``notary addhash``; push a fresh image first
        unless *image* names one already pushed."""
        pushed = image or self.push_unsigned(name, tag)
        repo = self.gun(name)
        self.ensure_delegation(name, role)
        self.notary("addhash", repo, tag, str(pushed.size), "--sha256",
                    pushed.digest.removeprefix("sha256:"), "--roles", role, "--publish")
        return Published(repo, tag, pushed.digest, pushed.size, role)

    def sign_targets_hash(self, name: str, image: Published) -> Published:
        """Sign an already pushed image into top-level ``targets`` with the notary CLI."""
        repo = self.gun(name)
        self.ensure_initialised(name)
        self.notary("addhash", repo, image.tag, str(image.size), "--sha256",
                    image.digest.removeprefix("sha256:"), "--publish")
        return Published(repo, image.tag, image.digest, image.size, "targets")

    # -- trust data setup ----------------------------------------------------------------------

    def ensure_initialised(self, name: str) -> None:
        """``notary init`` with a server-managed snapshot key, as ``docker trust`` does."""
        repo = self.gun(name)
        if repo in self._initialised:
            return
        self.notary("init", repo, "--publish")
        self.notary("key", "rotate", repo, "snapshot", "-r")
        self._initialised.add(repo)

    def ensure_delegation(self, name: str, role: str) -> None:
        repo = self.gun(name)
        if self._delegations.get((repo, role)):
            return
        self.ensure_initialised(name)
        cert = self.delegation_cert(role)
        self.notary("delegation", "add", repo, role, str(cert), "--all-paths", "--publish")
        self._delegations[(repo, role)] = True

    def remove_delegation(self, name: str, role: str) -> None:
        repo = self.gun(name)
        self.notary("delegation", "remove", repo, role, "-y", "--publish")
        self._delegations.pop((repo, role), None)

    def rotate_root(self, name: str) -> None:
        """``notary key rotate <gun> root`` (it asks for confirmation; rotations publish at
        once)."""
        out = self.notary("key", "rotate", self.gun(name), "root", answer="yes\n")
        if "Aborting" in out:
            raise StackError(f"notary refused to rotate the root key:\n{out}")

    def delegation_cert(self, role: str) -> Path:
        """An RSA 2048 key and self-signed certificate made with openssl, imported into the
        notary key store (Docker's delegation guide, step for step)."""
        if role in self._delegation_keys:
            return self._delegation_keys[role]
        short = role.rsplit("/", 1)[-1]
        key = self.workdir / f"{short}.key"
        csr = self.workdir / f"{short}.csr"
        cert = self.workdir / f"{short}.crt"
        run(["openssl", "genrsa", "-out", str(key), "2048"], self.env)
        run(["openssl", "req", "-new", "-sha256", "-key", str(key), "-out", str(csr),
             "-subj", f"/CN={short}"], self.env)
        run(["openssl", "x509", "-req", "-sha256", "-days", "365", "-in", str(csr),
             "-signkey", str(key), "-out", str(cert)], self.env)
        self.notary("key", "import", str(key), "--role", short)
        self._delegation_keys[role] = cert
        return cert

    # -- internals -----------------------------------------------------------------------------

    def _import(self, repo: str, tag: str, marker: str | None = None) -> None:
        tarball = self.workdir / "rootfs.tar"
        tarball.write_bytes(rootfs_tar(marker=marker or f"{repo}:{tag}"))
        self.docker("import", str(tarball), f"{repo}:{tag}")


def rootfs_tar(marker: str) -> bytes:
    """A minimal root filesystem: static busybox, a few applets and a marker file."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise StackError("busybox not found (Debian package busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        data = (marker + "\n").encode()
        info = tarfile.TarInfo("etc/tb-image")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _pushed(output: str) -> tuple[str, int]:
    match = _PUSHED.search(output)
    if match is None:
        raise StackError(f"no digest in docker push output:\n{output}")
    return match.group(1), int(match.group(2))
