"""Differential: Dockerfiles generated from a grammar of the constructs where readers differ,
each built with ``--no-cache`` by every real builder the stack has (dockerd 20.10's BuildKit
0.8 and its classic builder), against what the front end lists for that builder.  Fails on
any image a builder fetched that trustbuild did not list (a file trustbuild refuses is fine).

No newer BuildKit is to be had from the package registries this project may use: Debian 12
has no ``docker-buildx`` or ``buildkit`` package, and PyPI's ``buildkit`` is an unrelated
2011 project.  Current BuildKit's rules are checked against its own recorded conversions
instead (tests/test_buildkit_cases.py).

Bounded in the normal run (``TRUSTBUILD_DIFF_EXAMPLES``, default 40 files, two builds each);
``nox -s soak`` runs many more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.stack.observe import observe_build
from tests.stack.publisher import Publisher
from tests.stack.services import Stack
from trustbuild._internal.dockerfile import BuildOptions, analyse
from trustbuild._internal.dockerfile.readers import reader_named
from trustbuild.errors import DockerfileError

pytestmark = pytest.mark.stack
EXAMPLES = int(os.environ.get("TRUSTBUILD_DIFF_EXAMPLES", "40"))
# Every image is in the stack's registry (REG): a builder never looks anywhere else.
PUBLISHED = ("dgood:1", "dimg:1", "dimg:2", "dimg:5", "dimg2:1", "dimg3:1", "dcopy:1",
             "dmount:1", "dheredoc:1", "descape:1")


@pytest.fixture(scope="module")
def registry_images(publisher: Publisher) -> None:
    for image in PUBLISHED:
        name, tag = image.split(":")
        publisher.push_unsigned(f"tb/{name}", tag)


HEADERS = st.lists(st.sampled_from([
    "# foo=bar", "# check=skip=all", "# escape=`", "# syntax=REG/tb/dfront:1", "",
    "#!/bin/sh", "# hello",
    "#\u00a0escape=`", "#\x0bescape=`",  # not directives to Go's regexp \s
]), max_size=3)
GLOBAL_ARGS = st.lists(st.sampled_from([
    "ARG T=${NOPE-1}", "ARG T=${V:-2}", "ARG V=abc", "ARG TARGETARCH", "ARG TARGETOS",
    "ARG A=1 B=${A:-2}", "ARG T=${V#a}", "ARG T=${V:?m}", "ARG B", "ARG HTTP_PROXY",
    "ARG T=${V%c}${V/b/x}", "ARG A=x\x1fT=2",  # \x1f: no space to Go
    "ARG T=\ufeff", "ARG B=$\u00b2",  # a word's BOM is skipped; ² is no decimal digit
]), max_size=3)
BASES = [
    "REG/tb/dimg:${T:-1}", "REG/tb/dimg${TARGETSTAGE:+2}:1", "REG/tb/dimg${TARGETARCH:+3}:1",
    "REG/tb/dimg:${HTTP_PROXY:-5}", "REG/tb/dimg:${B:-1}", "REG/tb/dgood:1",
    "REG/tb/dimg${TARGETOS:+2}:1",
]
BODY = [
    "RUN true", "RUN true # `", "RUN true # <<CMD", "CMD", "CMD true",
    "COPY --from=REG/tb/dcopy:1 /etc/tb-image /c",
    "COPY --from=REG/tb/descape:1 /etc/tb-image /e", "COPY --from=0 /etc/tb-image /z",
    "RUN --mount=type=bind,from=REG/tb/dmount:1,target=/m true",
    "ONBUILD COPY --from=REG/tb/donb:1 /etc/tb-image /o",
    "RUN cat <<CMD\nCOPY --from=REG/tb/dheredoc:1 /etc/tb-image /h\nCMD",
    # Go's white space: a line of U+3000 continues, a flag is read byte by byte
    "RUN --mount=\"type=bind,target=/m\\\n\u3000\n"
    "ENV a=\"b\",from=REG/tb/dmount:1,target=/m2\" true",
    "RUN true \\\n\u2003# a comment\n && true", "RUN true \\\r\r",
    "COPY --chown=0\u0160--from=REG/tb/dcopy:1 /etc/tb-image /s",
]


@dataclass(frozen=True)
class Case:
    dockerfile: str
    build_args: dict[str, str]
    target: str | None


@st.composite
def cases(draw: st.DrawFn) -> Case:
    lines = list(draw(HEADERS)) + list(draw(GLOBAL_ARGS))
    names: list[str] = []
    for index in range(draw(st.integers(1, 3))):
        earlier = [n.capitalize() if draw(st.booleans()) else n for n in names]
        base = draw(st.sampled_from(BASES + earlier))
        name = draw(st.sampled_from([f"s{index}", "dup", None]))
        lines.append(f"FROM {base}" + (f" AS {name}" if name else ""))
        if name:
            names.append(name)
        lines.extend(draw(st.lists(st.sampled_from(BODY + [
            f"COPY --from={n} /etc/tb-image /n" for n in names[:-1]]), max_size=3)))
    args = draw(st.dictionaries(st.sampled_from(["HTTP_PROXY", "T", "B"]),
                                st.sampled_from(["1", "2"]), max_size=2))
    target = draw(st.sampled_from([None, *names]))
    bom = "\ufeff" if draw(st.booleans()) and draw(st.booleans()) else ""
    return Case(bom + "\n".join(lines) + "\n", args, target)


def listed_by_trustbuild(stack: Stack, case: Case, rules: str) -> set[str] | None:
    """What the front end lists for that builder; None when it refuses the file."""
    options = BuildOptions(build_args=case.build_args, target=case.target,
                           reader=reader_named(rules))
    try:
        analysis = analyse(case.dockerfile.replace("REG", stack.registry), options)
    except DockerfileError:
        return None
    return {str(p.reference) for p in analysis.pulls}


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_builders_fetch_only_listed_images(stack: Stack, publisher: Publisher,
                                           registry_images: None, case: Case) -> None:
    args = [a for k, v in case.build_args.items() for a in ("--build-arg", f"{k}={v}")]
    args += ["--target", case.target] if case.target else []
    for buildkit, rules in ((True, "buildkit-0.8"), (False, "classic")):
        listed = listed_by_trustbuild(stack, case, rules)
        observed = observe_build(stack, publisher.env, case.dockerfile, buildkit=buildkit,
                                 args=args, timeout=120)
        if listed is None:
            event(f"{rules}: refused")
            continue
        event(f"{rules}: compared ({'built' if observed.code == 0 else 'build failed'})")
        repos = {ref.split("@")[0].rsplit(":", 1)[0] for ref in listed}
        unlisted = sorted(observed.tags - listed) + sorted(
            d for d in observed.digests if d.split("@")[0] not in repos)
        assert not unlisted, (f"{rules} builder fetched {unlisted}, trustbuild listed "
                              f"{sorted(listed)} for:\n{case}\n{observed.output[-1500:]}")
