"""Platform strings (``os/arch[/variant]``) and BuildKit's built-in platform build args."""

from __future__ import annotations

import os
from dataclasses import dataclass

from trustbuild.errors import DockerfileError

_KNOWN_OS = frozenset({"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris",
                       "illumos", "aix", "android", "ios", "plan9", "dragonfly", "js", "wasip1"})
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
    "i386": ("386", ""), "i686": ("386", ""), "386": ("386", ""),
}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}" + (f"/{self.variant}" if self.variant else "")


def host_platform() -> Platform:
    machine = os.uname().machine.lower()  # platform.machine(), without importing platform
    arch, variant = _ARCH_ALIASES.get(machine, (machine, ""))
    return Platform("linux", arch, variant)


def parse_platform(text: str, line: int = 0) -> Platform:
    """containerd's ``platforms.Parse``, normalizing the common arch aliases."""
    parts = text.lower().split("/")
    if not text or any(not p for p in parts) or len(parts) > 3:
        raise DockerfileError(f"invalid platform {text!r}: expected os/arch[/variant]", line)
    if len(parts) == 1:
        if parts[0] in _KNOWN_OS:
            host = host_platform()
            return Platform(parts[0], host.arch, host.variant)
        arch, variant = _ARCH_ALIASES.get(parts[0], (parts[0], ""))
        return Platform("linux", arch, variant)
    arch, variant = _ARCH_ALIASES.get(parts[1], (parts[1], ""))
    if len(parts) == 3:
        variant = parts[2]
    return Platform(parts[0], arch, variant)


def builtin_args(build: Platform, target: Platform, target_stage: str) -> dict[str, str]:
    """BuildKit's default args, visible in FROM without being declared."""
    return {
        "BUILDPLATFORM": str(build), "BUILDOS": build.os, "BUILDARCH": build.arch,
        "BUILDVARIANT": build.variant, "BUILDOSVERSION": "",
        "TARGETPLATFORM": str(target), "TARGETOS": target.os, "TARGETARCH": target.arch,
        "TARGETVARIANT": target.variant, "TARGETOSVERSION": "",
        "TARGETSTAGE": target_stage,
    }
