"""Where a trusted base image's ONBUILD triggers are read, at its signed digest.

A base image's config may carry ONBUILD triggers that run in the build that uses it; one
that copies from an image pulls that image, one that names a stage brings that stage in.
Every command reads them the same way (``plan.complete_onbuild``), from:

1. the engine, when docker is there and already has the image (``docker image inspect``
   of ``name@digest``: the engine can only hold the content of that digest);
2. the registry (``registry.RegistryClient``): manifest, platform manifest and config, each
   fetched by digest and hash-checked;
3. the engine after ``docker pull name@digest``, when docker is there.

When none can answer, the reader raises :class:`OnbuildUnreadable` naming what each said:
the base image is then not verified (fail closed).  Answers are kept for the process (a
digest's triggers never change), failures too, so a scan asks once per image.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence

from trustbuild._internal.dockerfile.platforms import host_platform
from trustbuild._internal.reference import ImageReference
from trustbuild._internal.registry import RegistryClient
from trustbuild._internal.runner import engine_onbuild, engine_platform, pull_image
from trustbuild.errors import ExecutionError, OnbuildUnreadable, TrustError

log = logging.getLogger(__name__)


class OnbuildReader:
    """Reads ONBUILD triggers at signed digests.  *docker*: the docker CLI (None: no engine
    is asked); *registry*: None asks no registry.  Thread-safe."""

    def __init__(self, *, registry: RegistryClient | None, docker: str | None,
                 env: Mapping[str, str] | None = None) -> None:
        self.registry = registry
        self.docker = docker
        self._env = dict(os.environ if env is None else env)
        self._known: dict[tuple[str, tuple[str, ...]], list[str] | OnbuildUnreadable] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnbuildReader(docker={self.docker!r}, registry={self.registry!r})"

    def read(self, image: ImageReference, platforms: Sequence[str]) -> list[str]:
        """The triggers of *image* (``name@digest``) for *platforms* (the union, in order,
        when they differ by platform: every stage they may bring in is then checked)."""
        key = (str(image), tuple(dict.fromkeys(platforms)))
        with self._lock:
            known = self._known.get(key)
        if known is None:
            try:
                known = self._read(image, list(key[1]))
            except OnbuildUnreadable as exc:
                known = exc
            with self._lock:
                self._known[key] = known
        if isinstance(known, OnbuildUnreadable):
            raise known
        return list(known)

    def _read(self, image: ImageReference, platforms: list[str]) -> list[str]:
        text = str(image)
        failures: list[str] = []
        engine_up = self.docker is not None
        if engine_up:
            try:
                found = self._from_engine(text, platforms)
                if found is not None:
                    log.info("%s: ONBUILD triggers read from the engine (%d)", text, len(found))
                    return found
                failures.append("the engine does not have it")
            except ExecutionError as exc:
                engine_up = False
                failures.append(f"docker: {exc}")
        if self.registry is not None:
            try:
                return self.registry.onbuild_triggers(image, platforms)
            except TrustError as exc:
                failures.append(f"registry: {exc}")
        if engine_up:
            try:
                return self._pulled(text, platforms)
            except ExecutionError as exc:
                failures.append(f"docker pull: {exc}")
        raise OnbuildUnreadable(f"cannot read the ONBUILD triggers of {text}, so what this "
                                f"base image runs in the build is unknown: {'; '.join(failures)}"
                                , gun=image.name)

    def _from_engine(self, image: str, platforms: list[str]) -> list[str] | None:
        """The engine's answer, when its copy is of every platform wanted: the engine holds
        one platform of an index, its own unless told otherwise."""
        assert self.docker is not None
        found = engine_onbuild(self.docker, self._env, image)
        if found is None:
            return None
        host = str(host_platform())
        if any(p != host for p in platforms):
            held = engine_platform(self.docker, self._env, image)
            if held is None or any(p != held for p in platforms):
                log.info("%s: the engine holds it for %s, not %s", image, held,
                         ", ".join(platforms))
                return None
        return found

    def _pulled(self, image: str, platforms: list[str]) -> list[str]:
        assert self.docker is not None
        triggers: list[str] = []
        host = str(host_platform())
        for platform in platforms or [host]:
            pull_image(self.docker, self._env, image, None if platform == host else platform)
            found = engine_onbuild(self.docker, self._env, image)
            if found is None:
                raise ExecutionError(f"{image} is not in the engine after docker pull")
            triggers.extend(t for t in found if t not in triggers)
        log.info("%s: ONBUILD triggers read from the engine after a pull (%d)", image,
                 len(triggers))
        return triggers
