"""One case per BuildKit rule the front end follows (beyond the recorded corpus)."""

from __future__ import annotations

from typing import Any

import pytest

from trustbuild._internal.dockerfile import Builder, BuildOptions, ImagePull, analyse, find_pulls
from trustbuild.errors import DockerfileError

AMD64 = "linux/amd64"


def refs(text: str, **kw: Any) -> list[str]:
    kw.setdefault("build_platform", AMD64)
    options = BuildOptions(**kw)
    return sorted({str(p.reference) for p in find_pulls(text, options)})


def lib(name: str) -> str:
    return f"docker.io/library/{name}"


CASES = [
    # directives only at the top; escape char; check directive accepted
    ("# check=skip=all\n# escape=`\nFROM a `\n  AS x\nFROM x\n", [lib("a:latest")]),
    ("FROM a\n# escape=`\nRUN x `\nFROM b\n", [lib("b:latest")]),
    # CRLF and BOM
    ("\ufeffFROM a:1\r\nRUN x \\\r\n  y\r\nFROM b:2\r\n", [lib("b:2")]),
    # two escape chars at the end do not continue; comment lines inside a continuation vanish
    ("FROM a:1 AS s\nRUN echo \\\\\nFROM s\n", [lib("a:1")]),
    ("FROM \\\n# note\n  a:1\n", [lib("a:1")]),
    ("FROM \\\n\n  a:1\n", [lib("a:1")]),
    # heredoc bodies are never instructions, also with <<- and quoted words
    ("FROM a:1\nRUN <<EOF\nFROM evil:1\nEOF\n", [lib("a:1")]),
    ("FROM a:1\nCOPY <<-'X' /f\n\tFROM evil:2\n\tX\n", [lib("a:1")]),
    ("FROM a:1\nRUN cat <<A <<B\nFROM e1\nA\nFROM e2\nB\n", [lib("a:1")]),
    ("FROM a:1\nONBUILD RUN <<EOF\nFROM evil\nEOF\n", [lib("a:1")]),
    # JSON form disables heredocs: the next line is an instruction
    ('FROM a:1 AS s\nRUN ["sh", "<<EOF"]\nFROM b:1\n', [lib("b:1")]),
    # case-insensitive instructions and AS
    ("from a:1 As Build\nfRoM build\n", [lib("a:1")]),
    # every modifier
    ("ARG V=1.2.3\nFROM a:${V%.*}\n", [lib("a:1.2")]),
    ("ARG V=1.2.3\nFROM a:${V%%.*}\n", [lib("a:1")]),
    ("ARG V=1.2.3\nFROM a:${V#*.}\n", [lib("a:2.3")]),
    ("ARG V=1.2.3\nFROM a:${V##*.}\n", [lib("a:3")]),
    ("ARG V=a/b\nFROM x/${V/\\//-}\n", ["docker.io/x/a-b:latest"]),
    ("ARG V=a.b.c\nFROM x:${V//./-}\n", [lib("x:a-b-c")]),
    ("ARG V=\nFROM a:${V:-d}\n", [lib("a:d")]),
    ("ARG V=\nFROM a${V-:d}\n", [lib("a:latest")]),
    ("ARG V=set\nFROM a${V:+:plus}\n", [lib("a:plus")]),
    ("ARG V\nFROM a${V+:plus}\n", [lib("a:latest")]),
    ("ARG V=\nFROM a${V+:plus}\n", [lib("a:plus")]),
    # chained defaults; quotes removed from values
    ('ARG R=reg.io\nARG T=1\nARG I="${R}/img:${T}"\nFROM $I\n', ["reg.io/img:1"]),
    # builtin platform args without declaring them
    ("FROM img:${TARGETOS}-${TARGETARCH}\n", [lib("img:linux-amd64")]),
    # a stage shadowing an image; FROM matches only earlier stages
    ("FROM later AS first\nFROM a:1 AS later\nCOPY --from=first / /\n",
     [lib("a:1"), lib("later:latest")]),
    # COPY --from by index (unnamed stages count), by case-insensitive name, and images
    ("FROM a:1\nFROM b:1 AS Two\nFROM c:1\nCOPY --from=0 / /\nCOPY --from=TWO / /\n",
     [lib("a:1"), lib("b:1"), lib("c:1")]),
    ('FROM a:1\nCOPY --from=img:2 ["/a", "/b"]\n', [lib("a:1"), lib("img:2")]),
    # mount from is never an index; cache mounts with from; quoted csv field
    ("FROM a:1\nRUN --mount=type=cache,from=b:1,target=/c true\n", [lib("a:1"), lib("b:1")]),
    ('FROM a:1\nRUN --mount=type=bind,"from=b:2",target=/c true\n', [lib("a:1"), lib("b:2")]),
    ("FROM a:1 AS s\nFROM c:1\nRUN --mount=from=S,target=/s true\n", [lib("a:1"), lib("c:1")]),
    # ONBUILD triggers of a parent stage run in its child
    ("FROM a:1 AS p\nONBUILD COPY --from=t:1 / /\nFROM p\n", [lib("a:1"), lib("t:1")]),
    ("FROM a:1 AS p\nONBUILD COPY --from=t:1 / /\nFROM c:1\n", [lib("c:1")]),
    # digests and tag+digest
    ("FROM a@sha256:" + "0" * 64 + "\n", [lib("a@sha256:" + "0" * 64)]),
    ("FROM a:1@sha256:" + "1" * 64 + "\n", [lib("a:1@sha256:" + "1" * 64)]),
    # normalization: domain rule, index.docker.io, uppercase domain kept
    ("FROM index.docker.io/ubuntu:22\n", [lib("ubuntu:22")]),
    ("FROM localhost:5000/x\n", ["localhost:5000/x:latest"]),
    ("FROM GHCR.IO/org/img:1\n", ["GHCR.IO/org/img:1"]),
    ("FROM [::1]:5000/x:1\n", ["[::1]:5000/x:1"]),
    # scratch is not pulled
    ("FROM scratch\nCOPY --from=a:1 / /\n", [lib("a:1")]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_rule(text: str, expected: list[str]) -> None:
    assert refs(text) == expected


ERRORS = [
    ("# escape=x\nFROM a\n", "invalid escape token"),
    ("# escape=\\\n# escape=`\nFROM a\n", "only one escape parser directive"),
    ("RUN x\nFROM a\n", "no build stage in current context"),
    ("ARG X=1\n", "dockerfile contains no stages to build"),
    ("# only a comment\n", "file with no instructions"),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("FROM a AS 1st\n", "invalid name for build stage"),
    ("FROM --Platform=linux/amd64 a\n", "unknown flag: --Platform"),
    ("FROM --platform linux/amd64 a\n", "missing a value on flag: --platform"),
    ("FROM a\nADD --from=b / /\n", "unknown flag: --from"),
    ("FROM a\nCOPY --from=$X / /\n", "variable expansion is not supported for --from"),
    ("FROM a\nCOPY --from=x --from=y / /\n", "duplicate flag specified: --from"),
    ("FROM a\nRUN --mount=type=secret,id=s,from=b true\n", "secret mount does not support from"),
    ("FROM a\nRUN --mount=from=${X},target=/x true\n", "'from' doesn't support variable"),
    ("FROM a\nRUN <<EOF\nno end\n", "unterminated heredoc"),
    ("FROM a\nFOO bar\n", "unknown instruction: FOO"),
    ("FROM a\nONBUILD FROM b\n", "isn't allowed as an ONBUILD trigger"),
    ("FROM a\nCOPY --from=1 / /\n", "refers to current or later stage"),
    ("FROM a\nCOPY --from=later / /\nFROM b AS later\n", "needs to be defined before"),
    ("FROM a${X:?required}\n", "X: required"),
    ("FROM a${X\n", "missing '}'"),
    ("FROM a:${X:#y}\n", "unsupported modifier"),
    ("FROM a@sha256:" + "A" * 64 + "\n", "invalid checksum digest format"),
    ("FROM a@sha256:abc\n", "invalid reference format"),
    ("FROM " + "0" * 64 + "\n", "cannot specify 64-byte hexadecimal strings"),
    ("FROM --platform=linux/amd64/v1/x a\n", "invalid platform"),
    ("FROM a\n", "failed to reach build target nope"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_names_the_reason(text: str, message: str) -> None:
    target = "nope" if "build target" in message else None
    with pytest.raises(DockerfileError) as caught:
        find_pulls(text, BuildOptions(target=target, build_platform=AMD64))
    assert message in str(caught.value)


def test_errors_name_the_line() -> None:
    with pytest.raises(DockerfileError) as caught:
        find_pulls("FROM a\nRUN x\n\nCOPY --from=$V / /\n")
    assert caught.value.line == 4
    assert str(caught.value).startswith("Dockerfile:4: ")


def test_build_arg_overrides_only_declared_args() -> None:
    text = "ARG TAG=1\nFROM a:$TAG\nFROM b:${OTHER:-2}\n"
    got = refs(text, build_args={"TAG": "9", "OTHER": "7"}, all_stages=True)
    assert got == [lib("a:9"), lib("b:2")]


def test_build_arg_value_is_not_expanded_and_builtins_can_be_overridden() -> None:
    text = "ARG X\nFROM a:${X:-1}\nFROM --platform=$BUILDPLATFORM b:1\n"
    options = BuildOptions(build_args={"X": "two", "BUILDPLATFORM": "linux/arm64"},
                           all_stages=True, platforms=[AMD64])
    assert {(str(p.reference), p.platform) for p in find_pulls(text, options)} == {
        (lib("a:two"), AMD64), (lib("b:1"), "linux/arm64")}
    with pytest.raises(DockerfileError):  # "a:$HOME" is taken literally, and is invalid
        find_pulls("ARG X\nFROM a:$X\n", BuildOptions(build_args={"X": "$HOME"}))


def test_late_args_do_not_reach_from() -> None:
    assert refs("FROM a:1\nARG T=2\nFROM b:${T:-3}\n") == [lib("b:3")]


def test_target_pruning_and_validation_of_unreachable_stages() -> None:
    text = "FROM a:1 AS one\nFROM b:1 AS two\nFROM c:1\nCOPY --from=one / /\n"
    assert refs(text) == [lib("a:1"), lib("c:1")]
    assert refs(text, target="TWO") == [lib("b:1")]
    with pytest.raises(DockerfileError):
        refs("FROM Bad AS x\nFROM a:1\n")


def test_classic_builder_pulls_every_stage_up_to_the_target() -> None:
    text = "FROM a:1 AS one\nFROM b:1 AS two\nFROM c:1 AS three\n"
    assert refs(text, builder=Builder.CLASSIC, target="two") == [lib("a:1"), lib("b:1")]
    assert refs(text, builder=Builder.BUILDKIT, target="two") == [lib("b:1")]


def test_classic_builder_reports_buildkit_only_syntax() -> None:
    with pytest.raises(DockerfileError, match="RUN --mount needs BuildKit"):
        refs("FROM a\nRUN --mount=from=b,target=/b true\n", builder=Builder.CLASSIC)
    # docker 20.10's classic builder has no heredocs: the body lines are instructions
    with pytest.raises(DockerfileError, match="unknown instruction: x"):
        refs("FROM a\nRUN <<E\nx\nE\n", builder=Builder.CLASSIC)


def test_classic_builder_has_no_builtin_platform_args() -> None:
    text = "ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM a:1\nFROM b:1${TARGETARCH}\n"
    with pytest.raises(DockerfileError, match="empty platform"):
        refs(text, builder=Builder.CLASSIC)
    got = refs(text, builder=Builder.CLASSIC, build_args={"BUILDPLATFORM": "linux/arm64"})
    assert got == [lib("a:1"), lib("b:1")]
    assert refs(text, all_stages=True) == [lib("a:1"), lib("b:1amd64")]


def test_syntax_directive_and_buildkit_syntax_override() -> None:
    text = "#!/bin/sh\n# syntax=docker/dockerfile:1.7 extra\nFROM a:1\n"
    pulls = find_pulls(text, BuildOptions())
    syntax = [p for p in pulls if p.instruction == "syntax"]
    assert [str(p.reference) for p in syntax] == ["docker.io/docker/dockerfile:1.7"]
    assert syntax[0].line == 2
    over = find_pulls(text, BuildOptions(build_args={"BUILDKIT_SYNTAX": "my/front:2"}))
    assert [p.instruction for p in over if p.stage is None] == ["BUILDKIT_SYNTAX"]
    assert not [p for p in find_pulls(text, BuildOptions(builder=Builder.CLASSIC))
                if p.stage is None]


def test_multi_platform_resolves_each() -> None:
    pulls = find_pulls("FROM a:${TARGETARCH}\n",
                       BuildOptions(platforms=["linux/amd64", "linux/arm64"]))
    assert {(str(p.reference), p.platform) for p in pulls} == {
        (lib("a:amd64"), "linux/amd64"), (lib("a:arm64"), "linux/arm64")}


def test_pull_records_where_it_is_written() -> None:
    text = "ARG B=x:1\nFROM  --platform=linux/arm64   ${B} AS s\nCOPY --from=y:2 / /\n"
    pulls = {p.instruction: p for p in find_pulls(text)}
    frm: ImagePull = pulls["FROM"]
    assert (frm.line, frm.column, frm.written, frm.expanded) == (2, 32, "${B}", "x:1")
    assert frm.from_args and frm.platform == "linux/arm64" and frm.stage == "s"
    assert frm.span is not None and text[frm.span[0]:frm.span[1]] == "${B}"
    copy = pulls["COPY --from"]
    assert (copy.line, copy.column, copy.written, copy.from_args) == (3, 13, "y:2", False)


def test_registry_onbuild_triggers_are_pulled() -> None:
    options = BuildOptions(onbuild_triggers={lib("base:1"): ["COPY --from=node:20 / /"]})
    pulls = find_pulls("FROM base:1\n", options)
    trig = [p for p in pulls if p.instruction.startswith("ONBUILD")]
    assert [str(p.reference) for p in trig] == [lib("node:20")]
    assert trig[0].span is None


def test_warnings_for_empty_continuation_lines() -> None:
    assert analyse("FROM \\\n\n  a\n").warnings
