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


@pytest.mark.parametrize("reader", [BK08, CL], ids=str)
@pytest.mark.parametrize("space", ["\u00a0", "\x0b", "\u3000", "\x1f"])
def test_0_8_directives_take_only_go_regexp_spaces(reader: Reader, space: str) -> None:
    # `^#\s*…`: not a directive, the escape stays \ and the COPY is an instruction
    assert refs(ESCAPE_CASE.format(space=space), reader) == [
        "reg.example/bad:1", "reg.example/good:1"]


@pytest.mark.parametrize(("space", "directive"), [
    ("\u00a0", True), ("\x0b", True), ("\u3000", True), ("\x1f", False)])
def test_current_directives_skip_unicode_spaces_after_the_hash(space: str,
                                                               directive: bool) -> None:
    # DirectiveParser.ParseLine: the `#` cut, then unicode.IsSpace trimmed, then the pattern
    expected = ["reg.example/good:1"] if directive else [
        "reg.example/bad:1", "reg.example/good:1"]
    assert refs(ESCAPE_CASE.format(space=space), BK) == expected
    syntax = f"#{space}syntax=reg.example/front:1\nFROM reg.example/good:1\n"
    assert ("reg.example/front:1" in refs(syntax, BK)) is directive


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


def test_extra_carriage_returns_end_a_line_for_0_8_only() -> None:
    # bufio.ScanLines drops one \r; current BuildKit's trimNewline drops them all
    text = "FROM reg.example/good:1\nRUN true \\\r\r\nCOPY --from=reg.example/bad:1 /x /x\n"
    for reader in (BK08, CL):
        assert refs(text, reader) == ["reg.example/bad:1", "reg.example/good:1"]
    assert refs(text, BK) == ["reg.example/good:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
@pytest.mark.parametrize("name", ["\u00b2", "\u2460"])  # digits, not decimal digits
def test_a_variable_name_starts_only_with_a_decimal_digit(reader: Reader, name: str) -> None:
    # `$²` is no variable to Go (unicode.IsDigit is Nd): it stays literal, so B is set
    text = f"ARG B=${name}\nARG U=${{B:+bad}}\nFROM reg.example/x${{U:-good}}:1\n"
    assert refs(text, reader) == ["reg.example/xbad:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
def test_a_word_starting_with_a_bom_loses_it(reader: Reader) -> None:
    # text/scanner skips a byte-order mark at the start of what it reads
    text = "ARG T=\ufeff\nARG U=${T:+good}\nFROM reg.example/x${U:-bad}:1\n"
    assert refs(text, reader) == ["reg.example/xbad:1"]


def test_a_heredoc_count_is_ascii_digits() -> None:
    text = "FROM reg.example/good:1\nRUN cat \u0663<<#X\nCOPY --from=reg.example/bad:1 /x /x\n#X\n"
    assert refs(text, BK) == ["reg.example/bad:1", "reg.example/good:1"]


def test_a_heredoc_name_starting_with_a_bom_loses_it() -> None:
    text = ("FROM reg.example/good:1\nRUN cat <<\ufeffEOF\nEOF\n"
            "COPY --from=reg.example/bad:1 /x /x\nRUN cat <<#c\n\ufeffEOF\n#c\n")
    assert refs(text, BK) == ["reg.example/bad:1", "reg.example/good:1"]


def test_a_heredoc_name_with_a_raw_byte_ends_only_at_its_scanned_form() -> None:
    # Go's name is EOF + U+FFFD; a line of the raw byte again does not end the body
    text = ("FROM reg.example/good:1\nRUN cat <<EOF\udcff\nEOF\udcff\n"
            "COPY --from=reg.example/bad:1 /x /x\nEOF\ufffd\n")
    assert refs(text, BK) == ["reg.example/good:1"]
    text = ("FROM reg.example/good:1\nRUN cat <<EOF\udcff\nEOF\ufffd\n"
            "COPY --from=reg.example/bad:1 /x /x\n")
    assert refs(text, BK) == ["reg.example/bad:1", "reg.example/good:1"]


@pytest.mark.parametrize("reader", READERS, ids=str)
def test_deeply_nested_brackets_are_the_shell_form(reader: Reader) -> None:
    text = "FROM reg.example/good:1\nRUN " + "[" * 3000 + "\n"
    assert refs(text, reader) == ["reg.example/good:1"]
