"""Each reader's rules where they differ (issue 12's cases), and refusal when the reader is not
known exactly and its possible rule sets disagree.  Facts measured on dockerd 20.10 are in
tests/test_readers_stack.py; the table is docs/dockerfile.md ("Readers")."""

from __future__ import annotations

from typing import Any

import pytest

from trustbuild._internal.dockerfile import BuildOptions, analyse, find_pulls
from trustbuild._internal.dockerfile.pulls import analyse_with_triggers, detect_syntax
from trustbuild._internal.dockerfile.readers import (
    BUILDKIT_0_8,
    CLASSIC,
    CURRENT,
    Kind,
    Reader,
    frontend_rules,
    reader_named,
)
from trustbuild.errors import DockerfileError

AMD64 = "linux/amd64"
BK08 = reader_named("buildkit-0.8")
BK = reader_named("buildkit")
CL = reader_named("classic")
UNKNOWN = reader_named("unknown")


def refs(text: str, reader: Reader, **kw: Any) -> list[str]:
    kw.setdefault("build_platform", AMD64)
    pulls = find_pulls(text, BuildOptions(reader=reader, **kw))
    return sorted({str(p.reference) for p in pulls})


def r(*names: str) -> list[str]:
    return sorted(f"reg.example/{n}" for n in names)


# (case, Dockerfile, {reader: expected references or an error substring})
CASES: list[tuple[str, str, dict[Reader, list[str] | str]]] = [
    ("1 syntax after an unknown directive",
     "# foo=bar\n# syntax=reg.example/bad:1\nFROM reg.example/good:1\n",
     {BK08: r("bad:1", "good:1"), BK: r("good:1")}),
    ("1 two syntax directives: the last one (0.8)",
     "# syntax=reg.example/one:1\n# syntax=reg.example/two:1\nFROM reg.example/good:1\n",
     # 0.8 hands the file to two:1 (measured), which then rejects it: refused either way
     {BK08: "only one syntax parser directive", BK: "only one syntax parser directive"}),
    ("2 escape after check",
     "# check=skip=all\n# escape=`\nFROM reg.example/good:1\nRUN true # `\n"
     "COPY --from=reg.example/bad:1 /x /x\n",
     {BK08: r("bad:1", "good:1"), CL: r("bad:1", "good:1"), BK: r("good:1")}),
    ("3 heredoc under a reader without heredocs",
     "FROM reg.example/good:1\nRUN true # <<CMD\nCOPY --from=reg.example/bad:1 /v /y\nCMD\n",
     {BK08: r("bad:1", "good:1"), CL: r("bad:1", "good:1"), BK: r("good:1")}),
    ("3 heredoc with FROM in the body",
     "FROM reg.example/good:1\nRUN cat <<-X\nFROM reg.example/bad:1\nX\n",
     {BK08: "unknown instruction: X", BK: r("good:1")}),
    ("4 modifiers 0.8 lacks: the global ARG becomes empty",
     "ARG T=${NOPE-1}\nFROM reg.example/repo:${T:-2}\n",
     {BK08: r("repo:2"), BK: r("repo:1"), CL: "missing ':' in substitution"}),
    ("4 ${X#p} in a global ARG", "ARG V=abc\nARG T=${V#a}\nFROM reg.example/repo:${T:-2}\n",
     {BK08: r("repo:2"), BK: r("repo:bc")}),
    ("4 ${V:?m} in a global ARG (0.8 builds)", "ARG T=${V:?m}\nFROM reg.example/r:${T:-2}\n",
     {BK08: r("r:2"), BK: "V: m", CL: "V: m"}),
    ("4 ${V-w} directly in FROM is an error under 0.8", "FROM reg.example/r:${V-w}\n",
     {BK08: "missing ':' in substitution", BK: r("r:w")}),
    ("5 TARGETSTAGE", "FROM reg.example/img${TARGETSTAGE:+2}:1\n",
     {BK08: r("img:1"), CL: r("img:1"), BK: r("img2:1")}),
    ("6 re-declared platform arg", "ARG TARGETARCH\nFROM reg.example/img${TARGETARCH:+1}:1\n",
     {BK08: r("img:1"), BK: r("img1:1"), CL: r("img:1")}),
    ("6 platform arg not re-declared", "FROM reg.example/img${TARGETOS:+1}:1\n",
     {BK08: r("img1:1"), BK: r("img1:1"), CL: r("img:1")}),
    ("8 several ARGs on one line", "ARG A=1 B=${A:-2}\nFROM reg.example/repo:${B}\n",
     {BK08: r("repo:1"), BK: r("repo:1"), CL: r("repo:2")}),
    ("stage names: classic folds case",
     "FROM reg.example/good:1 AS build\nFROM Build\n",
     {CL: r("good:1"), BK: "must be lowercase", BK08: "must be lowercase"}),
    ("COPY --from=+0 and -0 are stage 0",
     "FROM reg.example/a:1\nFROM reg.example/b:1\nCOPY --from=+0 / /\nCOPY --from=-0 / /\n",
     {BK08: r("a:1", "b:1"), BK: r("a:1", "b:1"), CL: r("a:1", "b:1")}),
    ("COPY --from naming a later stage",
     "FROM reg.example/good:1\nCOPY --from=later / /\nFROM reg.example/late:1 AS later\n",
     # the target is `later`: 0.8 builds it alone; classic builds every stage up to it,
     # and there `later` is not built yet, so it is an image (measured)
     {BK08: r("late:1"), BK: "needs to be defined before",
      CL: sorted([*r("good:1", "late:1"), "docker.io/library/later:latest"])}),
    ("COPY --link is unknown before dockerfile 1.4",
     "FROM reg.example/good:1\nCOPY --link --from=reg.example/l:1 / /\n",
     {BK08: "unknown flag: --link", CL: "unknown flag: --link",
      BK: r("good:1", "l:1")}),
    ("upper-case LOCALHOST", "FROM LOCALHOST/x/up:1\n",
     {BK08: "must be lowercase", CL: "must be lowercase", BK: ["LOCALHOST/x/up:1"]}),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reader_rules(name: str, text: str, expected: dict[Reader, list[str] | str]) -> None:
    for reader, want in expected.items():
        if isinstance(want, str):
            with pytest.raises(DockerfileError, match=want.replace("$", r"\$")):
                refs(text, reader)
        else:
            assert refs(text, reader) == want, reader


def test_classic_proxy_args_without_arg_line() -> None:
    text = "ARG B=${http_proxy:-1}\nFROM reg.example/a:${HTTP_PROXY:-1}\nFROM reg.example/b:$B\n"
    args = {"HTTP_PROXY": "2", "http_proxy": "3", "ALL_PROXY": "9"}
    assert refs(text, CL, build_args=args, all_stages=True) == r("a:2", "b:3")
    assert refs(text, BK08, build_args=args, all_stages=True) == r("a:1", "b:1")
    assert refs("FROM reg.example/a:${ALL_PROXY:-1}\n", CL, build_args=args) == r("a:1")


def test_classic_target_with_duplicate_names_stops_at_the_first() -> None:
    text = "FROM reg.example/first:1 AS x\nFROM reg.example/second:1 AS x\nFROM reg.example/z:1\n"
    assert refs(text, CL, target="x") == r("first:1")
    assert refs(text, BK08, target="x") == r("second:1")


@pytest.mark.parametrize("mount", ["tmpfs", "ssh", "secret"])
def test_mount_types_without_from_are_refused(mount: str) -> None:
    text = (f"FROM reg.example/good:1\n"
            f"RUN --mount=type={mount},from=reg.example/x:1,target=/m true\n")
    for reader in (BK, BK08):
        with pytest.raises(DockerfileError, match=f"{mount} mount does not support from"):
            refs(text, reader)


def test_syntax_detection_bom_and_shebang() -> None:
    for text in ("\ufeff# syntax=reg.example/f:1\nFROM a\n",
                 "#!/x\n# syntax=reg.example/f:1\nFROM a\n"):
        assert detect_syntax(text) is not None
        assert detect_syntax(text, legacy=True) is None
        assert "reg.example/f:1" not in refs(text, BK08)
        assert "reg.example/f:1" in refs(text, BK)


def test_unknown_frontend_reads_under_every_rule_set_and_refuses_disagreement() -> None:
    agree = "# syntax=reg.example/front:1\nFROM reg.example/good:1\n"
    assert refs(agree, BK) == r("front:1", "good:1")
    assert analyse(agree, BuildOptions(reader=BK)).rules == (
        "buildkit -> buildkit-0.8", "buildkit")
    heredoc = agree + "RUN true # <<CMD\nCOPY --from=reg.example/bad:1 / /\nCMD\n"
    with pytest.raises(DockerfileError, match="disagree") as caught:
        refs(heredoc, BK)
    assert "reg.example/bad:1" in str(caught.value) and "buildkit-0.8" in str(caught.value)


def test_official_frontend_tags_name_their_rules() -> None:
    assert frontend_rules("docker.io/docker/dockerfile", "1", False) == (CURRENT,)
    assert frontend_rules("docker.io/docker/dockerfile", "1.2", False) == (BUILDKIT_0_8,)
    mid = frontend_rules("docker.io/docker/dockerfile", "1.4", False)
    assert len(mid) == 2 and all(rules.heredocs for rules in mid)
    assert frontend_rules("reg.example/mine", "1.4", False) == (BUILDKIT_0_8, CURRENT)
    heredoc = ("# syntax=docker/dockerfile:1.4\nFROM reg.example/good:1\n"
               "RUN <<X\nFROM reg.example/bad:1\nX\n")
    assert refs(heredoc, BK08) == sorted(["docker.io/docker/dockerfile:1.4",
                                          "reg.example/good:1"])


def test_unknown_builder_version_reads_both_ways() -> None:
    reader = Reader(Kind.DAEMON_BUILDKIT, None)
    assert reader.rule_sets() == (BUILDKIT_0_8, CURRENT)
    assert Reader(Kind.DAEMON_BUILDKIT, "20.10.24").rule_sets() == (BUILDKIT_0_8,)
    assert Reader(Kind.BUILDX, "v0.25.1").rule_sets() == (CURRENT,)
    assert Reader(Kind.CLASSIC, "20.10.24").rule_sets() == (CLASSIC,)
    with pytest.raises(DockerfileError, match="disagree"):
        refs("FROM reg.example/img${TARGETSTAGE:+2}:1\n", reader)
    with pytest.raises(DockerfileError, match="disagree"):
        refs("FROM reg.example/img${TARGETSTAGE:+2}:1\n", UNKNOWN)


def test_errors_carry_their_path() -> None:
    with pytest.raises(DockerfileError) as caught:
        analyse("FROM a\nCOPY --from=$X / /\n", path="ctx/Dockerfile")
    assert str(caught.value).startswith("ctx/Dockerfile:2: ")


def test_base_image_trigger_naming_a_stage_brings_in_that_stage() -> None:
    """Case 10: `ONBUILD COPY --from=helper` in onb5's config makes stage helper (and its
    image) part of the build."""
    text = "FROM reg.example/helper:1 AS helper\nFROM reg.example/onb5:1\n"
    options = BuildOptions(reader=BK08, build_platform=AMD64)
    first = analyse(text, options)
    assert [str(p.reference) for p in first.pulls] == ["reg.example/onb5:1"]
    assert [str(p.reference) for p in first.unread_trigger_images] == ["reg.example/onb5:1"]
    read: list[str] = []

    def triggers(pulls: Any) -> list[str]:
        read.append(str(pulls[0].reference))
        return {"reg.example/onb5:1": ["COPY --from=helper /x /x"]}.get(read[-1], [])

    final = analyse_with_triggers(text, options, triggers)
    assert sorted(str(p.reference) for p in final.pulls) == r("helper:1", "onb5:1")
    assert read == ["reg.example/onb5:1", "reg.example/helper:1"]
    assert final.unread_trigger_images == []


def test_base_image_trigger_pulling_an_image_is_listed_unpinnable() -> None:
    """Case 9: the classic builder runs `ONBUILD COPY --from=<image>` from the base's config."""
    text = "FROM reg.example/onb:1\n"
    final = analyse_with_triggers(text, BuildOptions(reader=CL, build_platform=AMD64),
                                  lambda pulls: ["COPY --from=reg.example/other:1 / /"]
                                  if str(pulls[0].reference) == "reg.example/onb:1" else [])
    pulled = {str(p.reference): p for p in final.pulls}
    assert set(pulled) == set(r("onb:1", "other:1"))
    assert pulled["reg.example/other:1"].span is None
    assert pulled["reg.example/other:1"].instruction.startswith("ONBUILD (from ")


def test_reader_names() -> None:
    assert reader_named("buildkit-0.8").rule_sets() == (BUILDKIT_0_8,)
    assert reader_named("buildkit-0.25").rule_sets() == (CURRENT,)
    with pytest.raises(ValueError, match="unknown builder rules"):
        reader_named("kaniko")
    assert "BuildKit 0.8" in str(Reader(Kind.DAEMON_BUILDKIT, "20.10.24+dfsg1"))


FRONT = "docker/dockerfile:1.7"
FRONT_DIGEST = "sha256:" + "7" * 64


@pytest.mark.parametrize(("text", "first_lines"), [
    ("FROM reg.example/good:1\n", ["# syntax=docker/dockerfile:1.7@" + FRONT_DIGEST]),
    ("# syntax=reg.example/other:1\n# escape=`\nFROM reg.example/good:1\n",
     ["# syntax=docker/dockerfile:1.7@" + FRONT_DIGEST, "# escape=`"]),
    ("\ufeff# escape=`\nFROM reg.example/good:1\n",
     ["# syntax=docker/dockerfile:1.7@" + FRONT_DIGEST, "# escape=`"]),
    # a BOM before the file's own `# syntax=` hid it from BuildKit 0.8: the mark goes
    ("\ufeff# syntax=reg.example/other:1\nFROM reg.example/good:1\n",
     ["# syntax=docker/dockerfile:1.7@" + FRONT_DIGEST, "FROM reg.example/good:1@sha256:"
      + "1" * 64]),
])
def test_policy_frontend_is_pinned_into_the_copy(text: str, first_lines: list[str]) -> None:
    from trustbuild._internal.dockerfile import pin

    analysis = analyse(text, BuildOptions(reader=BK08, frontend=FRONT, build_platform=AMD64))
    front = [p for p in analysis.pulls if p.instruction == "syntax (policy)"]
    assert [str(p.reference) for p in front] == ["docker.io/docker/dockerfile:1.7"]
    # the file is read by the frontend the copy names (1.7), not by what it said itself
    assert "reg.example/other:1" not in {str(p.reference) for p in analysis.pulls}
    digests = {str(p.reference): "sha256:" + "1" * 64 for p in analysis.pulls}
    digests["docker.io/docker/dockerfile:1.7"] = FRONT_DIGEST
    pinned = pin(text, analysis.pulls, digests, analysis.literal_bases).text
    assert pinned.splitlines()[:len(first_lines)] == first_lines
    again = analyse(pinned, BuildOptions(reader=BK08, build_platform=AMD64))
    assert str(again.pulls[0].reference) == f"docker.io/docker/dockerfile:1.7@{FRONT_DIGEST}"
    assert {str(p.reference) for p in again.pulls[1:]} == {
        f"reg.example/good:1@{'sha256:' + '1' * 64}"}


@pytest.mark.parametrize("text", [
    "#!/bin/sh\n# syntax=reg.example/other:1\nFROM reg.example/good:1\n",
    "# foo=bar\n# syntax=reg.example/other:1\nFROM reg.example/good:1\n",
])
def test_a_syntax_line_only_some_builders_see_cannot_take_the_policy_frontend(
        text: str) -> None:
    # current BuildKit and 0.8 disagree on these lines; pinning one for only one of them
    # would leave the other on a frontend nobody checked
    from trustbuild._internal.dockerfile import pin
    from trustbuild.errors import PinError

    analysis = analyse(text, BuildOptions(reader=BK, frontend=FRONT, build_platform=AMD64))
    digests = {str(p.reference): "sha256:" + "1" * 64 for p in analysis.pulls}
    with pytest.raises(PinError, match="first line"):
        pin(text, analysis.pulls, digests, analysis.literal_bases)


@pytest.mark.parametrize(("text", "rules"), [
    # the same image, pulled from a different line under each reader: the pinned copy would
    # pin only one of them
    ("# syntax=example.com/f:1\nFROM alpine:3.19\nRUN <<'#x'\nFROM alpine:3.19\n#x\n",
     "buildkit"),
    ("# syntax=docker/dockerfile:1.7\n# foo=bar\n# syntax=docker/dockerfile:1.7\n"
     "FROM alpine\n", "unknown"),
])
def test_readers_that_place_a_pull_differently_disagree(text: str, rules: str) -> None:
    with pytest.raises(DockerfileError, match="disagree"):
        analyse(text, BuildOptions(reader=reader_named(rules), build_platform=AMD64))


def test_frontend_key_only_from_the_users_policy(tmp_path: Any) -> None:
    from trustbuild._internal.policy import load
    from trustbuild.errors import PolicyError

    none = {"XDG_CONFIG_HOME": str(tmp_path / "none")}
    user = tmp_path / "user.toml"
    user.write_text('[frontend]\nimage = "docker/dockerfile:1.7"\n')
    chosen = load(config=str(user), env=none).frontend
    assert chosen is not None and chosen.value == "docker/dockerfile:1.7"
    home = tmp_path / "home"
    (home / "trustbuild").mkdir(parents=True)
    (home / "trustbuild" / "config.toml").write_text(user.read_text())
    assert load(env={"XDG_CONFIG_HOME": str(home)}).frontend is not None
    assert load(env=none).frontend is None
    context = tmp_path / "ctx"
    context.mkdir()
    (context / ".trustbuild.toml").write_text(user.read_text())
    from_project = load(context=str(context), env=none)
    assert from_project.frontend is None  # the build context cannot choose the frontend
    assert [i.key for i in from_project.ignored] == ["frontend.image"]
    trusting = tmp_path / "trusting.toml"
    trusting.write_text("[trust]\nproject_policy = 'trusted'\n")
    assert load(config=str(trusting), context=str(context), env=none).frontend is None
    user.write_text('[frontend]\nimage = "docker/dockerfile@sha256:' + "0" * 64 + '"\n')
    with pytest.raises(PolicyError, match="must name a tag"):
        load(config=str(user), env=none)
