"""The rewriter: examples, and properties over generated Dockerfiles (hypothesis)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustbuild._internal.dockerfile import (
    BuildOptions,
    ImagePull,
    Replacement,
    analyse,
    find_pulls,
    pin,
)
from trustbuild.errors import DockerfileError, PinError, TrustbuildError

AMD64 = "linux/amd64"
OPTIONS = BuildOptions(build_platform=AMD64, all_stages=True)


def fake_digest(ref: str) -> str:
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def digests_for(pulls: list[ImagePull]) -> dict[str, str]:
    return {str(p.reference): fake_digest(str(p.reference)) for p in pulls}


def pin_all(text: str, options: BuildOptions = OPTIONS) -> str:
    analysis = analyse(text, options)
    return pin(text, analysis.pulls, digests_for(analysis.pulls), analysis.literal_bases).text


def test_arg_driven_stage_references_become_literal() -> None:
    text = "ARG V=build\nFROM a:1 AS build\nFROM ${V} AS next\nFROM scra${E:-tch}\n"
    pinned = pin_all(text)
    assert pinned.splitlines()[2:] == ["FROM build AS next", "FROM scratch"]


def test_pins_every_kind_in_place_and_keeps_everything_else() -> None:
    text = ("# syntax=docker/dockerfile:1.7\r\n"
            "ARG BASE=reg.io/base:1\r\n"
            "FROM --platform=$BUILDPLATFORM ${BASE} as Build  # not a comment\r\n")
    with pytest.raises(DockerfileError):  # trailing text after AS name: BuildKit refuses too
        pin_all(text)
    text = ("# syntax=docker/dockerfile:1.7\r\n"
            "ARG BASE=reg.io/base:1\r\n"
            "FROM --platform=$BUILDPLATFORM ${BASE} as Build\r\n"
            "# comment FROM x\r\n"
            "RUN --mount=type=cache,target=/c \\\r\n"
            "    --mount=from=tool:2,target=/t true\r\n"
            "FROM alpine\r\n"
            "COPY --chown=1 --from=build /a /a\r\n"
            "COPY --from=nginx@sha256:" + "c" * 64 + " /b /b\r\n")
    pinned = pin_all(text)
    d = fake_digest
    assert pinned == (
        f"# syntax=docker/dockerfile:1.7@{d('docker.io/docker/dockerfile:1.7')}\r\n"
        "ARG BASE=reg.io/base:1\r\n"
        f"FROM --platform=$BUILDPLATFORM reg.io/base:1@{d('reg.io/base:1')} as Build\r\n"
        "# comment FROM x\r\n"
        "RUN --mount=type=cache,target=/c \\\r\n"
        f"    --mount=from=tool:2@{d('docker.io/library/tool:2')},target=/t true\r\n"
        f"FROM alpine:latest@{d('docker.io/library/alpine:latest')}\r\n"
        "COPY --chown=1 --from=build /a /a\r\n"
        "COPY --from=nginx@sha256:" + "c" * 64 + " /b /b\r\n")


def test_escape_directive_and_onbuild_are_kept() -> None:
    text = "# escape=`\nFROM a:1 AS p\nONBUILD COPY --from=t:1 / /\nFROM p\nRUN dir c:\\ `\n  x\n"
    pinned = pin_all(text)
    assert pinned.startswith("# escape=`\nFROM a:1@sha256:")
    assert "ONBUILD COPY --from=t:1@sha256:" in pinned
    assert pinned.endswith("FROM p\nRUN dir c:\\ `\n  x\n")


def test_missing_digest_and_unpinnable_references_are_errors() -> None:
    pulls = find_pulls("FROM a:1\n")
    with pytest.raises(PinError, match="no digest"):
        pin("FROM a:1\n", pulls, {})
    text = 'FROM a\nCOPY --from="b:1" / /\n'
    pulls = find_pulls(text)
    with pytest.raises(PinError, match="cannot be pinned in place"):
        pin(text, pulls, digests_for(pulls))


def test_per_platform_expansions_cannot_share_one_pin() -> None:
    text = "FROM a:${TARGETARCH}\n"
    options = BuildOptions(platforms=["linux/amd64", "linux/arm64"])
    pulls = find_pulls(text, options)
    with pytest.raises(PinError, match="build the platforms separately"):
        pin(text, pulls, digests_for(pulls))


def test_buildkit_syntax_override_is_pinned_as_a_build_arg() -> None:
    options = BuildOptions(build_args={"BUILDKIT_SYNTAX": "my/front:2"})
    pulls = find_pulls("FROM scratch\n", options)
    result = pin("FROM scratch\n", pulls, digests_for(pulls))
    assert result.text == "FROM scratch\n"
    assert result.build_args["BUILDKIT_SYNTAX"].startswith("my/front:2@sha256:")


# -- properties ----------------------------------------------------------------------------

_names = st.sampled_from(["alpine", "busybox:1.36", "reg.io:5000/team/app:v2", "golang:1.22",
                          "ghcr.io/o/i", "localhost/x:1"])
_stage_names = st.sampled_from(["build", "Base", "tools", "final"])
_spaces = st.sampled_from([" ", "  ", "\t"])
_eol = st.sampled_from(["\n", "\r\n"])


@st.composite
def dockerfiles(draw: st.DrawFn) -> str:
    eol = draw(_eol)
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append("# syntax=docker/dockerfile:1")
    args = draw(st.lists(_names, max_size=2))
    for i, value in enumerate(args):
        lines.append(f"ARG IMG{i}={value}")
    stages: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        sp = draw(_spaces)
        choices = [draw(_names)] + [f"${{IMG{i}}}" for i in range(len(args))] + stages
        base = draw(st.sampled_from(choices))
        flag = draw(st.sampled_from(["", "--platform=$BUILDPLATFORM" + sp,
                                     "--platform=linux/arm64" + sp]))
        name = draw(_stage_names) if draw(st.booleans()) else None
        keyword = draw(st.sampled_from(["FROM", "from"]))
        cont = draw(st.booleans())
        joiner = " \\" + eol + "  " if cont else sp
        line = f"{keyword}{sp}{flag}{base}" + (f"{joiner}AS {name}" if name else "")
        lines.append(line)
        if name:
            stages.append(name.lower())
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.integers(0, 3))
            if kind == 0:
                lines.append(f"COPY --from={draw(_names)} /a /b")
            elif kind == 1:
                lines.append(f"RUN --mount=type=bind,from={draw(_names)},target=/m true")
            elif kind == 2:
                lines.append("# a comment with FROM evil:1")
            else:
                lines.append("RUN <<EOF" + eol + "FROM evil:2" + eol + "EOF")
    return eol.join(lines) + eol


def _strip_replacements(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:])
    return "\0".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfiles())
def test_pinning_changes_nothing_but_reference_tokens(text: str) -> None:
    pulls = find_pulls(text, OPTIONS)
    result = pin(text, pulls, digests_for(pulls))
    original_spans = [(r.start, r.end) for r in result.replacements]
    new_spans = []
    shift = 0
    for r in result.replacements:
        start = r.start + shift
        new_spans.append((start, start + len(r.new)))
        shift += len(r.new) - (r.end - r.start)
        assert r.new.endswith(fake_digest_for(r, pulls))
    assert _strip_replacements(text, original_spans) == _strip_replacements(result.text,
                                                                            new_spans)


def fake_digest_for(replacement: Replacement, pulls: list[ImagePull]) -> str:
    for pull in pulls:
        if pull.span and pull.span[0] == replacement.start:
            return fake_digest(str(pull.reference))
    raise AssertionError("replacement without a pull")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfiles())
def test_reading_a_pinned_file_gives_the_same_stages_pinned(text: str) -> None:
    before = analyse(text, OPTIONS).pulls
    pinned = pin(text, before, digests_for(before)).text
    after = analyse(pinned, OPTIONS).pulls
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert (new.instruction, new.stage, new.stage_index, new.platform, new.line) == \
            (old.instruction, old.stage, old.stage_index, old.platform, old.line)
        expected = old.reference if old.reference.digest else old.reference.with_digest(
            fake_digest(str(old.reference)))
        assert new.reference == expected


_fragments = st.sampled_from([
    "FROM ", "from ", "ARG ", "COPY --from=", "RUN --mount=from=", "ONBUILD ", " AS ", "$",
    "${", "}", ":-", ":+", "#", "%", "/", "//", "\\\n", "`\n", "\n", "\r\n", "<<EOF\n", "EOF\n",
    "<<-X\n", '"', "'", "alpine", ":1", "@sha256:", "0" * 64, "--platform=", "scratch", "=",
    "# escape=`\n", "# syntax=x\n", "\ufeff", "[\"a\"]", ",", " ", "\t", "\x00", "é",
])


@settings(max_examples=500, deadline=None)
@given(st.lists(_fragments, max_size=30).map("".join) | st.text(max_size=200),
       st.sampled_from([None, "x", "build"]),
       st.lists(st.sampled_from(["linux/amd64", "arm64", "windows/amd64", "bad//p"]),
                max_size=2),
       st.dictionaries(st.sampled_from(["IMG0", "TAG", "BUILDKIT_SYNTAX", "TARGETARCH"]),
                       st.sampled_from(["", "alpine", "x:${Y}", "a b"]), max_size=2))
def test_front_end_raises_only_its_own_errors(text: str, target: str | None,
                                              platforms: list[str],
                                              build_args: dict[str, str]) -> None:
    options = BuildOptions(target=target, platforms=platforms, build_args=build_args)
    try:
        pulls = find_pulls(text, options)
        pin(text, pulls, digests_for(pulls))
    except TrustbuildError:
        pass
