"""A Python base image made offline from this machine's own Python installation.

The demo has no internet and no Docker Hub, so it cannot pull ``python:3.x``.  It makes the
root filesystem of one instead, the way a distroless image is assembled:

* the installation of the interpreter running the demo (``sys.base_prefix``), moved to
  ``/usr/local`` as the official python images lay it out, without its site-packages, its test
  suite, Tk, IDLE and the static library (``venv`` and ``ensurepip`` stay: the image build
  makes a virtual environment);
* every shared library the interpreter and its extension modules load, as ``ldd`` finds them
  here, at the same paths (``libpython`` goes beside libc, where the loader looks without a
  cache);
* the static busybox of the test images (``tests/stack/publisher.rootfs_tar``) for ``/bin/sh``,
  which ``RUN`` needs.

``docker import`` of the tarball gives an image of about 80 MB in a few seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.stack.publisher import rootfs_tar

IMAGE_PREFIX = Path("/usr/local")
# What a base image for running Python programs does without.
LEFT_OUT = frozenset({"site-packages", "test", "idlelib", "tkinter", "turtledemo", "lib2to3"})
LEFT_OUT_EXTENSIONS = re.compile(r"^(_tkinter|_test|_xxtest|xxlimited|_ctypes_test)")
# What `docker import --change` sets: the environment of the official python images.
IMAGE_CHANGES = ("ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8",
                 'CMD ["python3"]')
_LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)$")


def python_rootfs(tarball: Path, prefix: Path = Path(sys.base_prefix)) -> Path:
    """Write the root filesystem of a Python base image to *tarball*."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = prefix / "bin" / version
    stdlib = prefix / "lib" / version
    extensions = [p for p in (stdlib / "lib-dynload").glob("*.so")
                  if not LEFT_OUT_EXTENSIONS.match(p.name)]
    libraries = shared_libraries([interpreter, *extensions])
    libc_dir = next(p.parent for p in libraries if p.name.startswith("libc.so"))
    # libpython's RUNPATH names this machine's prefix: it goes where the loader looks anyway.
    placed = {(libc_dir / lib.name if lib.is_relative_to(prefix) else lib): lib
              for lib in libraries}
    tarball.write_bytes(rootfs_tar(marker=f"{version} from {prefix}"))
    with tarfile.open(tarball, "a") as tar:
        # Parents first, world-readable: docker import makes missing ones root-only.
        for directory in _parents([IMAGE_PREFIX / "bin" / version,
                                   IMAGE_PREFIX / "lib" / version, *placed]):
            tar.addfile(_directory(str(directory)))
        tar.add(interpreter, arcname=f"{IMAGE_PREFIX}/bin/{version}", filter=_as_root)
        for alias in ("python3", "python"):
            tar.addfile(_symlink(f"{IMAGE_PREFIX}/bin/{alias}", version))
        image_stdlib = f"{IMAGE_PREFIX}/lib/{version}"
        tar.add(stdlib, arcname=image_stdlib, filter=_stdlib_filter(image_stdlib))
        tar.addfile(_directory(f"{IMAGE_PREFIX}/lib/{version}/site-packages"))
        for target, library in sorted(placed.items()):
            tar.add(library.resolve(), arcname=str(target), filter=_as_root)
    return tarball


def shared_libraries(elves: Iterable[Path]) -> set[Path]:
    """Every shared object (the dynamic loader included) that *elves* load, as ``ldd``
    reports their paths."""
    found: set[Path] = set()
    for elf in elves:
        result = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False)
        if result.returncode != 0 and "not a dynamic executable" not in result.stdout:
            raise RuntimeError(f"ldd {elf} failed: {result.stderr.strip()}")
        for line in result.stdout.splitlines():
            if "not found" in line:
                raise RuntimeError(f"{elf} needs a library this machine lacks: {line.strip()}")
            match = _LDD_LINE.match(line)
            if match:
                found.add(Path(match.group(1)))
    return found


def _parents(paths: Iterable[Path]) -> list[Path]:
    """The directories above *paths*, each once, parents before children."""
    return sorted({parent for path in paths for parent in path.parents
                   if parent != Path("/")}, key=lambda p: len(p.parts))


def _stdlib_filter(image_stdlib: str) -> Callable[[tarfile.TarInfo], tarfile.TarInfo | None]:
    static_config = Path(sysconfig.get_config_var("LIBPL") or "/nonexistent").name

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        relative = Path(info.name).relative_to(image_stdlib.lstrip("/")).parts
        if relative and (relative[0] in LEFT_OUT or relative[0] == static_config):
            return None
        if relative[:1] == ("lib-dynload",) and LEFT_OUT_EXTENSIONS.match(relative[-1]):
            return None
        if ".opt-" in info.name and info.name.endswith(".pyc"):
            return None
        return _as_root(info)

    return keep


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = _as_root(tarfile.TarInfo(name.lstrip("/")))
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _directory(name: str) -> tarfile.TarInfo:
    info = _as_root(tarfile.TarInfo(name.lstrip("/")))
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info
