"""Build args and platforms as the builders read them: the classic builder's ARG keys and
re-declared ARGs, containerd's platform normalisation behind TARGETVARIANT, and BuildKit's
own copy helper image.  Each case is one where a builder fetched an image trustbuild did not
list before; ground truth is the registry access log of a --no-cache build on dockerd 20.10."""

from __future__ import annotations

import pytest

from tests.conftest import GoodAndBad
from tests.stack.publisher import Publisher
from tests.stack.services import Stack
from tests.test_go_space_stack import listed, observe
from tests.test_readers import BK, BK08, CL, refs
from trustbuild.errors import UsageError

# -- what trustbuild lists ---------------------------------------------------------------------


def test_classic_expands_a_global_arg_key() -> None:
    # processMetaArg -> ArgCommand.Expand expands the key too; BuildKit does not
    text = "ARG K=TAG\nARG ${K}=bad\nFROM reg.example/x${TAG:-good}:1\n"
    assert refs(text, CL) == ["reg.example/xbad:1"]
    assert refs(text, BK08) == refs(text, BK) == ["reg.example/xgood:1"]
    quoted = 'ARG "TAG"=bad\nFROM reg.example/x${TAG:-good}:1\n'
    assert refs(quoted, CL) == ["reg.example/xbad:1"]
    assert refs(quoted, BK) == ["reg.example/xgood:1"]


def test_classic_unsets_a_global_arg_declared_again_bare() -> None:
    # AddMetaArg(key, nil) replaces the earlier value; BuildKit keeps it (0.8: blanks it)
    text = "ARG T=good\nARG T\nFROM reg.example/x${T:-bad}:1\n"
    assert refs(text, CL) == ["reg.example/xbad:1"]
    assert refs(text, BK) == ["reg.example/xgood:1"]
    assert refs(text, CL, build_args={"T": "good"}) == ["reg.example/xgood:1"]


@pytest.mark.parametrize(("platform", "bk08", "current"), [
    ("linux/arm", "v7", ""), ("linux/arm/7", "v7", "v7"), ("linux/armhf", "v7", ""),
    ("linux/arm64/v8", "", "v8"), ("linux/arm64/8", "", "v8"), ("linux/arm64", "", ""),
    ("linux/amd64/v1", "", ""), ("linux/amd64/V2", "v2", "v2")])
def test_target_variant_is_containerds(platform: str, bk08: str, current: str) -> None:
    # BuildKit 0.8: Parse then Normalize (measured on dockerd 20.10); current BuildKit:
    # today's Parse alone (the recorded corpus resolves linux/arm64/v8 as such)
    text = "FROM reg.example/img:v-${TARGETVARIANT:-none}\n"
    for reader, variant in ((BK08, bk08), (BK, current)):
        assert refs(text, reader, platforms=[platform]) == [
            f"reg.example/img:v-{variant or 'none'}"]


@pytest.mark.parametrize("reader", [BK08, BK, CL], ids=str)
def test_disable_fileop_is_refused(reader: object) -> None:
    text = "FROM reg.example/good:1\nCOPY Dockerfile /x\n"
    with pytest.raises(UsageError, match="dockerfile-copy"):
        refs(text, reader, build_args={"BUILDKIT_DISABLE_FILEOP": "1"})  # type: ignore[arg-type]


# -- on the real builders ----------------------------------------------------------------------

STACK_CASES = [
    ("classic-arg-key-expanded",
     "ARG K=TAG\nARG ${K}=bad\nFROM REG/tb/x${TAG:-good}:1\n", False, ()),
    ("classic-bare-redeclared-arg",
     "ARG T=good\nARG T\nFROM REG/tb/x${T:-bad}:1\n", False, ()),
    ("bk08-targetvariant-arm",
     "ARG V=${TARGETVARIANT:+bad}\nFROM REG/tb/x${V:-good}:1\n", True,
     ("--platform", "linux/arm")),
]


@pytest.mark.stack
@pytest.mark.parametrize(("dockerfile", "buildkit", "args"), [c[1:] for c in STACK_CASES],
                         ids=[c[0] for c in STACK_CASES])
def test_what_the_builder_fetches_is_listed(stack: Stack, publisher: Publisher,
                                            good_and_bad: GoodAndBad, dockerfile: str,
                                            buildkit: bool, args: tuple[str, ...]) -> None:
    observed = observe(stack, publisher.env, dockerfile, buildkit=buildkit, args=args)
    rules = "buildkit-0.8" if buildkit else "classic"
    got = listed(stack, dockerfile, rules, platforms=[args[1]] if args else [])
    detail = f"fetched {sorted(observed.tags)}, listed {got}\n{observed.output[-600:]}"
    assert good_and_bad.bad.ref in observed.tags, detail  # the case still reaches the builder
    assert got is not None and good_and_bad.bad.ref in got, detail


@pytest.mark.stack
def test_disable_fileop_would_pull_the_copy_helper(stack: Stack, publisher: Publisher,
                                                   good_and_bad: GoodAndBad) -> None:
    """The reason for the refusal, on BuildKit 0.8: the helper image is asked for."""
    dockerfile = "FROM REG/tb/xgood:1\nCOPY Dockerfile /x\n"
    observed = observe(stack, publisher.env, dockerfile, buildkit=True,
                       args=("--build-arg", "BUILDKIT_DISABLE_FILEOP=1"))
    assert "dockerfile-copy" in observed.output
