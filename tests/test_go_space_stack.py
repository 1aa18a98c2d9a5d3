"""Go's white space and byte-wise flag reading, on the real builders: Dockerfiles where
dockerd 20.10's builders once fetched an image trustbuild did not list, because Python's idea
of a space (or of a character) is not Go's.  Ground truth: the registry access log of a
--no-cache build (tests/stack/observe.py).  Each builder-fetched image of these repositories
must now be listed, or the file refused; `trustbuild build` must stop before docker."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.conftest import GoodAndBad
from tests.stack.observe import (
    Observed,
    forget_images,
    listed_by_trustbuild,
    log_size,
    manifest_requests,
    observe_build,
)
from tests.stack.publisher import Publisher
from tests.stack.services import DOCKER_CLI, Stack

pytestmark = pytest.mark.stack


def observe(stack: Stack, env: Mapping[str, str], dockerfile: str, *, buildkit: bool,
            args: Sequence[str] = (), extra_env: Mapping[str, str] | None = None) -> Observed:
    return observe_build(stack, env, dockerfile, buildkit=buildkit, args=args, timeout=180,
                         extra_env=extra_env)


def listed(stack: Stack, dockerfile: str, rules: str, **options: object) -> set[str] | None:
    return listed_by_trustbuild(stack, dockerfile, rules, **options)


def trustbuild(stack: Stack, config: Path, ctx: Path, dockerfile: str, argv: Sequence[str], *,
               buildkit: bool, extra_env: Mapping[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_bytes(dockerfile.replace("REG", stack.registry).encode("utf-8"))
    env = {**stack.env(config), "DOCKER_BUILDKIT": "1" if buildkit else "0",
           "TRUSTBUILD_DOCKER": DOCKER_CLI, "PYTHONPATH": str(Path(__file__).parent.parent),
           **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "trustbuild", *argv, str(ctx)], env=env,
                          cwd=ctx.parent, capture_output=True, text=True, timeout=600,
                          check=False)


# (id, Dockerfile, buildkit?)
CASES = [
    # a non-ASCII space or \v in a `# escape=` line: Go's regexp \s takes neither, so the
    # line is no directive and the escape stays \ (the COPY is an instruction of its own)
    ("escape-nbsp-bk", "#\u00a0escape=`\nFROM REG/tb/xgood:1\nRUN true # `\n"
     "COPY --from=REG/tb/xbad:1 /etc/tb-image /x\n", True),
    ("escape-nbsp-classic", "#\u00a0escape=`\nFROM REG/tb/xgood:1\nRUN true # `\n"
     "COPY --from=REG/tb/xbad:1 /etc/tb-image /x\n", False),
    ("escape-vt-bk", "#\x0bescape=`\nFROM REG/tb/xgood:1\nRUN true # `\n"
     "COPY --from=REG/tb/xbad:1 /etc/tb-image /x\n", True),
    # extractBuilderFlags reads bytes (rune(line[pos])): byte 0xA0 of U+0160 is a space to
    # it, so one flag word is two --mount flags to the builder: trustbuild refuses the flag
    ("flagword-S-mount-bk", "FROM REG/tb/xgood:1\nRUN --mount=type=bind,from=REG/tb/xbad:1,"
     "target=/a\u0160--mount=type=bind,target=/b,from=REG/tb/xgood:1 "
     "cat /a*/etc/tb-image > /evidence\n", True),
    ("flagword-S-copy-classic", "FROM REG/tb/xgood:1\n"
     "COPY --chown=0\u0160--from=REG/tb/xbad:1 /etc/tb-image /x\n", False),
    # a U+3000-only line inside a continuation: an empty continuation line to the builder
    # (skipped, the instruction goes on)
    ("ideographic-space-continuation-bk", "FROM REG/tb/xgood:1\n"
     "RUN --mount=\"type=bind,target=/m\\\n\u3000\n"
     "ENV a=\"b\",from=REG/tb/xbad:1,target=/m2\" cat /m2/etc/tb-image > /evidence\n", True),
    # bufio.ScanLines drops one \r: `\\\r` does not continue the line in 0.8 and classic
    ("crcr-bk", "FROM REG/tb/xgood:1\nRUN true \\\r\r\nFROM REG/tb/xbad:1\n", True),
    ("crcr-classic", "FROM REG/tb/xgood:1\nRUN true \\\r\r\nFROM REG/tb/xbad:1\n", False),
    # `$²`: no variable to Go's lexer (unicode.IsDigit is a decimal digit), so B is set
    ("superscript-digit-bk", "ARG B=$\u00b2\nARG U=${B:+bad}\nFROM REG/tb/x${U:-good}:1\n",
     True),
    ("superscript-digit-classic",
     "ARG B=$\u00b2\nARG U=${B:+bad}\nFROM REG/tb/x${U:-good}:1\n", False),
    # text/scanner skips a BOM at the start of a word: T is empty
    ("bom-word-bk", "ARG T=\ufeff\nARG U=${T:+good}\nFROM REG/tb/x${U:-bad}:1\n", True),
    ("bom-word-classic", "ARG T=\ufeff\nARG U=${T:+good}\nFROM REG/tb/x${U:-bad}:1\n", False),
]


def fetched_of_ours(observed: Observed, images: GoodAndBad) -> set[str]:
    return {t for t in observed.tags if t in (images.good.ref, images.bad.ref)}


@pytest.mark.parametrize(("dockerfile", "buildkit"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_what_the_builder_fetches_is_listed_or_the_file_refused(
        stack: Stack, publisher: Publisher, good_and_bad: GoodAndBad, dockerfile: str,
        buildkit: bool) -> None:
    observed = observe(stack, publisher.env, dockerfile, buildkit=buildkit)
    rules = "buildkit-0.8" if buildkit else "classic"
    got = listed(stack, dockerfile, rules)
    detail = (f"build exit {observed.code}; fetched {sorted(observed.tags)}; trustbuild "
              f"({rules}) listed {got}\n{observed.output[-800:]}")
    assert good_and_bad.bad.ref in observed.tags, detail  # the case still reaches the builder
    assert got is None or fetched_of_ours(observed, good_and_bad) <= got, detail


@pytest.mark.parametrize("case", ["flagword-S-mount-bk", "ideographic-space-continuation-bk",
                                  "escape-nbsp-bk"])
def test_trustbuild_build_stops_before_docker(stack: Stack, publisher: Publisher,
                                              good_and_bad: GoodAndBad, consumer_config: Path,
                                              tmp_path: Path, case: str) -> None:
    dockerfile = dict((c[0], c[1]) for c in CASES)[case]
    forget_images(stack, publisher.env)
    start = log_size(stack)
    result = trustbuild(stack, consumer_config, tmp_path / "ctx", dockerfile,
                        ["build", "-t", "tbreview:out", "--no-cache"], buildkit=True)
    tags, _ = manifest_requests(stack, start)
    detail = f"exit {result.returncode}; fetched {sorted(tags)}\n{result.stderr[-1500:]}"
    assert result.returncode in (3, 4), detail  # refused, or no trust data for xbad
    assert good_and_bad.bad.ref not in tags, detail


CLASSIC_PASSWD = ("FROM REG/tb/xgood:1\nRUN echo 'x\u00c5:x:0:0::/:/bin/sh' >> /etc/passwd && "
                  "echo 'x\u00c5:x:0:' >> /etc/group\n"
                  "COPY --chown=x\u0160--from=REG/tb/xbad:1 /etc/tb-image /x\n")


def test_classic_byte_split_flag_is_refused(stack: Stack, publisher: Publisher,
                                            good_and_bad: GoodAndBad, consumer_config: Path,
                                            tmp_path: Path) -> None:
    """Classic builder: with a user named so that --chown resolves, docker alone builds on
    tb/xbad; trustbuild refuses the flag."""
    assert listed(stack, CLASSIC_PASSWD, "classic") is None
    result = trustbuild(stack, consumer_config, tmp_path / "ctx", CLASSIC_PASSWD,
                        ["build", "-t", "tbreview:out", "--no-cache"], buildkit=False)
    assert result.returncode == 3, result.stderr
    assert "byte by byte" in result.stderr


def test_docker_default_platform_is_the_platform_checked(
        stack: Stack, publisher: Publisher, consumer_config: Path, tmp_path: Path) -> None:
    """docker's CLI takes --platform's default from DOCKER_DEFAULT_PLATFORM: check lists the
    image of that platform (here unsigned: exit 4), as the build pulls it."""
    publisher.sign_legacy("tb/xpamd64", "1")
    arm = publisher.push_unsigned("tb/xparm64", "1")
    dockerfile = "FROM REG/tb/xp${TARGETARCH}:1\n"
    extra = {"DOCKER_DEFAULT_PLATFORM": "linux/arm64"}
    observed = observe(stack, publisher.env, dockerfile, buildkit=True, extra_env=extra)
    result = trustbuild(stack, consumer_config, tmp_path / "ctx", dockerfile,
                        ["check", "--format", "json"], buildkit=True, extra_env=extra)
    refs = {i["reference"] for i in json.loads(result.stdout)["images"]}
    assert arm.ref in observed.tags
    assert (result.returncode, refs) == (4, {arm.ref}), result.stderr


ARG_SPLIT = "ARG T=1\nARG A=x\x1fT=2\nFROM REG/tb/xt:${T}\n"


@pytest.mark.parametrize("buildkit", [True, False], ids=["bk", "classic"])
def test_arg_words_split_on_go_spaces_only(stack: Stack, publisher: Publisher,
                                           buildkit: bool) -> None:
    """\\x1c-\\x1f are spaces to Python's isspace, not to Go's unicode.IsSpace: the
    builder reads T=1, and so does trustbuild."""
    publisher.push_unsigned("tb/xt", "1")
    observed = observe(stack, publisher.env, ARG_SPLIT, buildkit=buildkit)
    got = listed(stack, ARG_SPLIT, "buildkit-0.8" if buildkit else "classic")
    assert f"{stack.registry}/tb/xt:1" in observed.tags
    assert got == {f"{stack.registry}/tb/xt:1"}
