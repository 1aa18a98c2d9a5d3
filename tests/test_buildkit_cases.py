"""Every run recorded from BuildKit's own Dockerfile-to-LLB conversion (fixtures/…json).

For each run, the set of (reference, platform) BuildKit resolved must equal what the front end
reports, and where BuildKit failed the front end must fail with the same reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import FIXTURES
from trustbuild._internal.dockerfile import BuildOptions, find_pulls
from trustbuild.errors import DockerfileError

CASES = json.loads((FIXTURES / "buildkit-dockerfile-cases.json").read_text())["cases"]
RUNS = [(case["name"], i, case["dockerfile"], run)
        for case in CASES for i, run in enumerate(case["runs"])]


def options_from_args(args: list[str]) -> BuildOptions:
    build_args: dict[str, str] = {}
    onbuild: dict[str, list[str]] = {}
    target = None
    platforms: list[str] = []
    all_stages = False
    it = iter(args)
    for flag in it:
        if flag == "-all":
            all_stages = True
        elif flag == "-target":
            target = next(it)
        elif flag == "-platform":
            platforms.extend(next(it).split(","))
        elif flag == "-build-arg":
            key, _, value = next(it).partition("=")
            build_args[key] = value
        elif flag == "-onbuild":
            image, _, trigger = next(it).partition("=")
            onbuild.setdefault(image, []).append(trigger)
        else:
            raise AssertionError(f"unknown recorded flag {flag}")
    return BuildOptions(build_args=build_args, target=target, platforms=platforms,
                        all_stages=all_stages, build_platform="linux/amd64",
                        onbuild_triggers=onbuild)


def _key_part(message: str) -> str:
    """The part of BuildKit's message that names the reason (its prefix names its own layer)."""
    for prefix in ("dockerfile parse error on line ",):
        if message.startswith(prefix):
            return message.split(": ", 1)[1]
    return message


@pytest.mark.parametrize(("name", "index", "dockerfile", "run"), RUNS,
                         ids=[f"{n}-{i}" for n, i, _, _ in RUNS])
def test_recorded_buildkit_run(name: str, index: int, dockerfile: str,
                               run: dict[str, Any]) -> None:
    options = options_from_args(run["args"])
    if "error" in run:
        with pytest.raises(DockerfileError) as caught:
            find_pulls(dockerfile, options)
        assert _key_part(run["error"]) in str(caught.value)
        return
    pulls = find_pulls(dockerfile, options)
    got = {(str(p.reference), p.platform) for p in pulls if p.instruction != "syntax"}
    want = {(r["ref"], r["platform"]) for r in run["resolved"]}
    assert got == want
