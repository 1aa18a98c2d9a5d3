"""Go's white space, not Python's: where BuildKit's parser and Python disagree on what a space
is, trustbuild reads as the builder does or refuses (the real builders' side of each case is
in test_go_space_stack.py)."""

from __future__ import annotations

import sys

import pytest

from tests.test_readers import BK, BK08, CL, refs
from trustbuild._internal.dockerfile import gospace
from trustbuild._internal.dockerfile.readers import Reader
from trustbuild.errors import DockerfileError

READERS = [BK08, CL, BK]
ESCAPE_CASE = "#{space}escape=`\nFROM reg.example/good:1\nRUN true # `\n" \
              "COPY --from=reg.example/bad:1 /x /x\n"


def test_unicode_spaces_are_pythons_without_the_separators() -> None:
    python = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert python - set(gospace.UNICODE) == set("\x1c\x1d\x1e\x1f")
    assert set(gospace.UNICODE) <= python


@pytest.mark.parametrize("reader", READERS, ids=str)
@pytest.mark.parametrize("space", ["\u00a0", "\x0b", "\u3000", "\x1f"])
def test_a_directive_takes_only_go_regexp_spaces(reader: Reader, space: str) -> None:
    # not a directive: the escape stays \ and the COPY is an instruction of its own
    assert refs(ESCAPE_CASE.format(space=space), reader) == [
        "reg.example/bad:1", "reg.example/good:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
def test_a_directive_with_ascii_spaces_still_counts(reader: Reader) -> None:
    assert refs(ESCAPE_CASE.format(space=" \t"), reader) == ["reg.example/good:1"]


@pytest.mark.parametrize("reader", [BK08, BK], ids=str)  # RUN --mount needs BuildKit
@pytest.mark.parametrize("space", ["\u3000", "\u2000", "\u205f", "\u00a0"])
def test_a_line_of_unicode_spaces_is_an_empty_continuation_line(reader: Reader,
                                                               space: str) -> None:
    text = ("FROM reg.example/good:1\nRUN --mount=\"type=bind,target=/m\\\n" + space + "\n"
            "ENV a=\"b\",from=reg.example/bad:1,target=/m2\" true\n")
    assert "reg.example/bad:1" in refs(text, reader)


@pytest.mark.parametrize("reader", READERS, ids=str)
def test_a_comment_after_unicode_spaces_is_a_comment(reader: Reader) -> None:
    text = ("FROM reg.example/good:1\nRUN true \\\n\u2003# a comment\n"
            "  && true\nCOPY --from=reg.example/bad:1 /x /x\n")
    assert refs(text, reader) == ["reg.example/bad:1", "reg.example/good:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
@pytest.mark.parametrize("flag", [
    "--mount=type=bind,from=reg.example/bad:1,target=/a\u0160--mount=type=bind,target=/b",
    "--chown=x\u0160--from=reg.example/bad:1",
    "--chown=j\u00fcrgen",
    "--mount=type=bind,from=reg.example/good:1,target=/a\u00a0--mount=from=reg.example/bad:1",
])
def test_a_non_ascii_flag_is_refused(reader: Reader, flag: str) -> None:
    keyword = "COPY" if flag.startswith("--chown") else "RUN"
    text = f"FROM reg.example/good:1\n{keyword} {flag} /x /y\n"
    with pytest.raises(DockerfileError, match="byte by byte") as caught:
        refs(text, reader)
    assert caught.value.line == 2


@pytest.mark.parametrize("reader", READERS, ids=str)
@pytest.mark.parametrize("flags", ["--chown=a\udca0--from=reg.example/bad:1",
                                   "--chown=a \udca0--from=reg.example/bad:1",
                                   "--chown=a\udc85--from=reg.example/bad:1"])
def test_a_files_raw_a0_or_85_byte_is_a_space_between_flags(reader: Reader,
                                                            flags: str) -> None:
    # a byte that is not UTF-8 (held as a surrogate): extractBuilderFlags takes 0xA0 and
    # 0x85 for spaces, so the next word is a flag of its own
    text = f"FROM reg.example/good:1\nCOPY {flags} /x /y\n"
    assert refs(text, reader) == ["reg.example/bad:1", "reg.example/good:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
def test_non_ascii_after_the_flags_is_fine(reader: Reader) -> None:
    text = "FROM reg.example/good:1\nRUN --network=none echo j\u00fcrgen \u0160\n"
    assert refs(text, reader) == ["reg.example/good:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e", "\x1f"])
def test_arg_words_split_on_go_spaces_only(reader: Reader, separator: str) -> None:
    text = f"ARG T=1\nARG A=x{separator}T=2\nFROM reg.example/t:${{T}}\n"
    assert refs(text, reader) == ["reg.example/t:1"]
