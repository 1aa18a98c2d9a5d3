"""The lexical layer of BuildKit's Dockerfile parser, keeping source offsets for every character.

Physical lines become logical instructions exactly as ``frontend/dockerfile/parser`` does it:
parser directives only at the top, the escape token, line continuation (two escape tokens at the
end of a line do not continue), comment and blank lines inside a continuation, heredoc bodies
read raw, a BOM on the first line, ``\\r\\n`` endings.  Each logical line keeps, for each of its
characters, the offset of that character in the original text, so a later stage can replace a
token in place and leave every other byte alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from trustbuild._internal.dockerfile import gospace
from trustbuild._internal.dockerfile.readers import CURRENT, Rules
from trustbuild._internal.dockerfile.shell import Lexer
from trustbuild.errors import DockerfileError, ShellError

MAX_LINE = 64 * 1024 - 1  # bufio.MaxScanTokenSize - 1
BOM = "\ufeff"
_S = gospace.REGEXP_CLASS
_DIRECTIVE_BODY = re.compile(rf"([a-zA-Z][a-zA-Z0-9]*){_S}*={_S}*(.+?){_S}*\Z", re.DOTALL)
_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z", re.DOTALL)  # Go's \d: ASCII digits
_HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})
_TOKEN_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
# extractBuilderFlags reads bytes: of a file's undecodable bytes (held as surrogates), 0x85
# and 0xA0 are spaces to it.
_FLAG_SPACE = gospace.ASCII + "\udc85\udca0"


@dataclass(frozen=True, slots=True)
class Text:
    """A string cut from the logical line, with the original offset of each character."""

    value: str
    offsets: tuple[int, ...]

    def __post_init__(self) -> None:
        assert len(self.value) == len(self.offsets)

    def __getitem__(self, item: slice) -> Text:
        return Text(self.value[item], self.offsets[item])

    def __len__(self) -> int:
        return len(self.value)

    def __add__(self, other: Text) -> Text:
        return Text(self.value + other.value, self.offsets + other.offsets)

    @property
    def start(self) -> int:
        return self.offsets[0]

    @property
    def end(self) -> int:
        return self.offsets[-1] + 1

    def strip(self) -> Text:
        """``strings.TrimSpace``."""
        value = self.value
        left = len(value) - len(value.lstrip(gospace.UNICODE))
        right = len(value.rstrip(gospace.UNICODE))
        return self[left:max(left, right)]


EMPTY = Text("", ())


@dataclass(frozen=True, slots=True)
class Flag:
    """A leading ``--name[=value]`` word, quotes and escapes removed like BuildKit does."""

    name: str
    value: str | None
    raw: Text  # the flag word as written
    value_raw: Text | None  # the part after '=' as written


@dataclass(frozen=True, slots=True)
class Heredoc:
    name: str
    chomp: bool
    expand: bool
    content: str
    start_line: int  # first body line (1-based), the terminator is after the body


@dataclass(slots=True)
class Node:
    """One instruction (``sub`` holds the instruction of an ``ONBUILD``)."""

    keyword: str  # lowercased
    original: Text  # the logical line
    flags: list[Flag]
    args: Text  # after the keyword and the flags, trimmed
    start_line: int
    end_line: int
    is_json: bool = False
    sub: Node | None = None
    heredocs: list[Heredoc] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    value: str
    line: int
    value_span: tuple[int, int]


@dataclass(slots=True)
class ParsedDockerfile:
    text: str
    nodes: list[Node]
    escape: str
    directives: dict[str, Directive]
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based
    start: int  # offset of the first character
    raw: str  # without the '\n'

    def content(self, rules: Rules = CURRENT) -> tuple[str, int]:
        """``trimNewline`` (BuildKit 0.8: only the ``\\r`` that ``bufio.ScanLines`` drops)
        plus, on line 1, the BOM: the text and its start offset."""
        raw, start = self.raw, self.start
        if self.number == 1 and raw.startswith(BOM):
            raw, start = raw[1:], start + 1
        return (raw.rstrip("\r") if rules.trim_all_cr else raw.removesuffix("\r")), start


def match_directive(line: str, unicode_space: bool) -> tuple[str, str, int, int] | None:
    """A parser directive line: its key as written, its value and the value's span in
    *line*; None when the line is not one.  After the ``#``, current BuildKit's
    ``DirectiveParser`` skips ``unicode.IsSpace`` (*unicode_space*), BuildKit 0.8's pattern
    ``^#\\s*`` only Go regexp's ``\\s``."""
    if not line.startswith("#"):
        return None
    after = line[1:]
    rest = gospace.trim_left(after) if unicode_space else after.lstrip("\t\n\f\r ")
    skipped = len(line) - len(rest)
    match = _DIRECTIVE_BODY.match(rest)
    if match is None:
        return None
    return match.group(1), match.group(2), skipped + match.start(2), skipped + match.end(2)


def split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    start = 0
    number = 1
    while start < len(text):
        end = text.find("\n", start)
        stop = len(text) if end == -1 else end
        if stop - start > MAX_LINE:
            raise DockerfileError(f"dockerfile line greater than max allowed size of {MAX_LINE}",
                                  number)
        lines.append(_Line(number, start, text[start:stop]))
        start = stop + 1
        number += 1
    return lines


class _Directives:
    def __init__(self, rules: Rules) -> None:
        # BuildKit 0.8 knows only syntax and escape: `# check=` ends the directives there.
        self.valid = {"syntax", "escape", "check"} if rules.check_directive else {"syntax",
                                                                                  "escape"}
        self.escape = "\\"
        self.unicode_space = rules.directive_unicode_space
        self.done = False
        self.found: dict[str, Directive] = {}
        self._continuation = self._continuation_regex("\\")

    @staticmethod
    def _continuation_regex(escape: str) -> re.Pattern[str]:
        e = re.escape(escape)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z", re.DOTALL)

    def offer(self, line: str, number: int, start: int) -> None:
        """``possibleParserDirective``: the first line that is not one ends the directives."""
        if self.done:
            return
        match = match_directive(line, self.unicode_space)
        if match is None or match[0].lower() not in self.valid:
            self.done = True
            return
        key, value = match[0].lower(), match[1]
        if key in self.found:
            raise DockerfileError(f"only one {key} parser directive can be used", number)
        self.found[key] = Directive(key, value, number, (start + match[2], start + match[3]))
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\", number)
            self.escape = value
            self._continuation = self._continuation_regex(value)

    def trim_continuation(self, text: Text) -> tuple[Text, bool]:
        match = self._continuation.search(text.value)
        if match is None:
            return text, True
        keep = match.start() + (1 if match.group(1) is not None else 0)
        return text[:keep], False


def _is_comment(line: str) -> bool:
    return gospace.trim_left(line).startswith("#")


def parse(text: str, rules: Rules = CURRENT) -> ParsedDockerfile:
    """Parse Dockerfile text (decoded with ``surrogateescape`` so any bytes survive) as the
    reader with *rules* does (directives it knows, heredocs or not)."""
    lines = split_lines(text)
    directives = _Directives(rules)
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0
    while i < len(lines):
        first = lines[i]
        raw, start = first.content(rules)
        stripped = gospace.trim_left(raw)
        lead = len(raw) - len(stripped)
        directives.offer(stripped, first.number, start + lead)
        i += 1
        token = "" if stripped.startswith("#") else stripped
        logical, end_of_line = directives.trim_continuation(
            Text(token, tuple(range(start + lead, start + lead + len(token)))))
        if end_of_line and not logical.value:
            continue
        empty_continuation = False
        while not end_of_line and i < len(lines):
            raw, start = lines[i].content(rules)
            i += 1
            if _is_comment(raw):
                continue
            if not gospace.trim_left(raw):
                empty_continuation = True
                continue
            part, end_of_line = directives.trim_continuation(
                Text(raw, tuple(range(start, start + len(raw)))))
            logical = logical + part
        end_line = lines[i - 1].number
        if empty_continuation:
            warnings.append(f"line {first.number}: empty continuation line (deprecated)")
        node = _node_from_line(logical, first.number, end_line)
        if rules.heredocs and _can_contain_heredoc(node):
            i = _read_heredocs(node, lines, i)
        nodes.append(node)
    if not nodes:
        raise DockerfileError("file with no instructions", len(lines))
    return ParsedDockerfile(text, nodes, directives.escape, directives.found, warnings)


def _node_from_line(line: Text, start_line: int, end_line: int) -> Node:
    keyword, flags, args = _split_command(line, start_line)
    node = Node(keyword, line, flags, args, start_line, end_line)
    if keyword in ("run", "cmd", "entrypoint", "shell", "copy", "add", "volume"):
        node.is_json = _is_json_array(args.value)
    elif keyword == "onbuild":
        if not args.value:
            raise DockerfileError("ONBUILD requires at least one argument", start_line)
        node.sub = _node_from_line(args, start_line, end_line)
    return node


def _split_command(line: Text, number: int) -> tuple[str, list[Flag], Text]:
    trimmed = line.strip()
    match = _TOKEN_WHITESPACE.search(trimmed.value)
    if match is None:
        return trimmed.value.lower(), [], EMPTY
    keyword = trimmed.value[:match.start()].lower()
    rest = trimmed[match.end():]
    flags, args = _extract_flags(rest, number)
    return keyword, flags, args.strip()


def _extract_flags(line: Text, number: int) -> tuple[list[Flag], Text]:
    """``extractBuilderFlags``: the leading ``--`` words; always ``\\`` as escape here."""
    value = line.value
    flags: list[Flag] = []
    pos = 0
    while True:
        while pos < len(value) and value[pos] in _FLAG_SPACE:
            pos += 1
        if pos >= len(value) or not value.startswith("--", pos):
            return flags, line[pos:]
        word_start = pos
        word, pos, blank_ok = _flag_word(value, pos)
        _refuse_non_ascii(value[word_start:pos], number)
        if word == "--":
            return flags, line[pos:]
        if word or blank_ok:
            raw = line[word_start:pos]
            name, eq, flag_value = word[2:].partition("=")
            value_raw = None
            if eq:
                equals = value.index("=", word_start)
                value_raw = line[equals + 1:pos]
            flags.append(Flag(name, flag_value if eq else None, raw, value_raw))


def _flag_word(value: str, pos: int) -> tuple[str, int, bool]:
    out: list[str] = []
    quote = ""
    blank_ok = False
    while pos < len(value):
        ch = value[pos]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\":
                if pos + 1 == len(value):
                    quote = ""
                else:
                    pos += 1
                    out.append(value[pos])
            else:
                out.append(ch)
            pos += 1
            continue
        if ch in _FLAG_SPACE:
            break
        if ch in "'\"":
            quote = ch
            blank_ok = True
        elif ch == "\\":
            if pos + 1 < len(value):
                pos += 1
                out.append(value[pos])
        else:
            out.append(ch)
        pos += 1
    return "".join(out), pos, blank_ok


def _refuse_non_ascii(word: str, number: int) -> None:
    """BuildKit's flag reader works on bytes, each taken as a character of its own: a
    multi-byte character in a flag is changed, and one whose bytes include 0x85 or 0xA0 splits
    the word in two flags (``from=bad…Š--mount=…``).  What the builder then reads cannot be
    told reliably from the text, so such a flag is refused."""
    if word.isascii():
        return
    for ch in word:
        if ord(ch) > 0x7F:
            shown = ch if not 0xDC80 <= ord(ch) <= 0xDCFF else f"byte 0x{ord(ch) - 0xDC00:02X}"
            raise DockerfileError(
                f"the flag {word!r} holds the non-ASCII character {shown!r} (U+{ord(ch):04X}); "
                "docker's builders read flags byte by byte, which changes or splits it, so "
                "what they would read cannot be checked: write the flag in ASCII", number)


def _is_json_array(args: str) -> bool:
    if not args.startswith("["):
        return False
    try:
        parsed = json.loads(args)
    except (ValueError, RecursionError):  # Go's json fails on these too: the shell form
        return False
    return isinstance(parsed, list) and all(isinstance(item, str) for item in parsed)


def _can_contain_heredoc(node: Node) -> bool:
    target = node.sub if node.keyword == "onbuild" and node.sub is not None else node
    return target.keyword in _HEREDOC_INSTRUCTIONS and not target.is_json


def heredocs_in(line: str) -> list[tuple[str, bool, bool]]:
    """``heredocsFromLine``: (name, chomp, expand) for each heredoc word of *line*."""
    if line.count("<") < 2:
        return []  # no word can hold "<<" (lexing with no variables adds no "<")
    try:
        words = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True).process_words(line, {})
    except ShellError:
        return []  # BuildKit ignores lexing errors here
    found = []
    for word in words:
        match = _HEREDOC.match(word)
        if match is None or not match.group(3):
            continue
        rest = match.group(3)
        try:
            names = Lexer(skip_unset=True).process_words(rest, {})
            raw_names = Lexer(skip_unset=True, raw_quotes=True).process_words(rest, {})
        except ShellError as exc:
            raise DockerfileError(str(exc)) from None
        if len(names) != 1:
            continue
        quotes = names[0].count("'") + names[0].count('"')
        raw_quotes = raw_names[0].count("'") + raw_names[0].count('"')
        found.append((names[0], match.group(2) == "-", quotes == raw_quotes))
    return found


def _read_heredocs(node: Node, lines: list[_Line], i: int) -> int:
    try:
        docs = heredocs_in(node.original.value)
    except DockerfileError as exc:
        raise DockerfileError(exc.message, node.start_line) from None
    for name, chomp, expand in docs:
        body: list[str] = []
        first_body_line = lines[i].number if i < len(lines) else node.end_line + 1
        while i < len(lines):
            line = lines[i]
            i += 1
            candidate = line.raw.rstrip("\r\n")
            if chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                node.end_line = line.number
                break
            body.append(line.raw + "\n")
        else:
            raise DockerfileError("unterminated heredoc", node.start_line)
        node.heredocs.append(Heredoc(name, chomp, expand, "".join(body), first_body_line))
    return i
