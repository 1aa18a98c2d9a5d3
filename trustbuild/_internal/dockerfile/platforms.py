"""Platform strings (``os/arch[/variant]``) and BuildKit's built-in platform build args."""

from __future__ import annotations

import os
from dataclasses import dataclass

from trustbuild.errors import DockerfileError

# containerd's platforms package (isKnownOS, isKnownArch), which BuildKit parses with.
_KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos",
                       "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris",
                       "windows", "zos"})
_KNOWN_ARCH = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
    "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
    "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"})
_HOST_MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's ``normalizeArch``, as ``platforms.Normalize`` applies it (measured on
    dockerd 20.10's BuildKit: ``linux/arm`` is ``v7``, ``linux/arm64/v8`` and
    ``linux/amd64/v1`` have no variant)."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8") else variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm" and variant in ("", "7"):
        return "arm", "v7"
    if arch == "arm" and variant in ("5", "6", "8"):
        return "arm", "v" + variant
    return arch, variant


def _normalize_os(name: str) -> str:
    name = name.lower()
    return "darwin" if name == "macos" else name


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}" + (f"/{self.variant}" if self.variant else "")


def host_platform() -> Platform:
    machine = os.uname().machine.lower()  # platform.machine(), without importing platform
    arch, variant = normalize_arch(_HOST_MACHINES.get(machine, machine), "")
    return Platform("linux", arch, variant)


def parse_platform(text: str, line: int = 0, *, normalized: bool = True) -> Platform:
    """A ``--platform`` value as BuildKit reads it.  *normalized*: containerd's ``Parse``
    then ``Normalize`` (BuildKit 0.8, measured on dockerd 20.10: ``linux/arm`` is ``v7``,
    ``linux/arm64/v8`` has no variant); otherwise today's ``Parse`` alone, which current
    BuildKit uses (``linux/arm`` has no variant, ``linux/arm64/v8`` keeps it)."""
    parts = text.split("/")
    if not text or any(not p for p in parts) or len(parts) > 3:
        raise DockerfileError(f"invalid platform {text!r}: expected os/arch[/variant]", line)
    if len(parts) == 1:
        name = _normalize_os(parts[0])
        if name in _KNOWN_OS:
            host = host_platform()
            return Platform(name, host.arch, host.variant)
        arch, variant = normalize_arch(parts[0], "")
        if arch not in _KNOWN_ARCH:
            raise DockerfileError(f"invalid platform {text!r}: unknown operating system or "
                                  "architecture", line)
        return _parsed(Platform("linux", arch, variant), 1, normalized)
    arch, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else "")
    return _parsed(Platform(_normalize_os(parts[0]), arch, variant), len(parts), normalized)


def _parsed(platform: Platform, parts: int, normalized: bool) -> Platform:
    if normalized:
        return platform
    if parts < 3 and platform.arch == "arm" and platform.variant == "v7":
        return Platform(platform.os, "arm", "")
    if parts == 3 and platform.arch == "arm64" and not platform.variant:
        return Platform(platform.os, "arm64", "v8")
    return platform


def builtin_args(build: Platform, target: Platform, target_stage: str) -> dict[str, str]:
    """BuildKit's default args, visible in FROM without being declared."""
    return {
        "BUILDPLATFORM": str(build), "BUILDOS": build.os, "BUILDARCH": build.arch,
        "BUILDVARIANT": build.variant, "BUILDOSVERSION": "",
        "TARGETPLATFORM": str(target), "TARGETOS": target.os, "TARGETARCH": target.arch,
        "TARGETVARIANT": target.variant, "TARGETOSVERSION": "",
        "TARGETSTAGE": target_stage,
    }
