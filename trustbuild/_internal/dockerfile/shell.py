"""Shell-style word processing as BuildKit's ``shell.Lex`` does it.

Quotes, the escape token, ``$V``/``${V}`` and the modifiers ``:-  -  :+  +  :?  ?  #  ##  %  %%
/  //``.  Used to expand build args in ``FROM`` and ``ARG`` values and to find heredoc words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from trustbuild._internal.dockerfile import gospace
from trustbuild.errors import ShellError

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_UNDECODABLE_TO_FFFD = dict.fromkeys(range(0xDC80, 0xDD00), 0xFFFD)  # surrogateescape'd bytes



@dataclass(slots=True)
class Lexer:
    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    # False: BuildKit 0.8's lexer, which knows only ${V} ${V?m} ${V:-w} ${V:+w} ${V:?m}
    extended: bool = True

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return _Word(self, word, env).run()[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return _Word(self, word, env).run()[1]


@dataclass(slots=True)
class _Words:
    word: str = ""
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if gospace.is_space(ch):  # the lexer's unicode.IsSpace
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


_EOF = ""


def _as_scanned(source: str) -> str:
    """The characters Go's ``text/scanner`` hands the lexer: a byte-order mark at the start
    is skipped, and each byte that is not UTF-8 (held here as a surrogate) is U+FFFD."""
    return source.removeprefix("\ufeff").translate(_UNDECODABLE_TO_FFFD)


class _Word:
    def __init__(self, lexer: Lexer, source: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.src = _as_scanned(source)
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.process_until(_EOF, self.raw_escapes)
        except ShellError as exc:
            raise ShellError(f"failed to process {self.src[:200]!r}: {exc}") from None
        except RecursionError:
            raise ShellError(f"failed to process {self.src[:200]!r}: variables nested too "
                             "deeply") from None

    def process_until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._process_until(stop)
        finally:
            self.raw_escapes = saved

    def _process_until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.result()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_string(value)
            elif ch in "'\"":
                value = self.single_quote() if ch == "'" else self.double_quote()
                result.append(value)
                words.add_raw_string(value)
            else:
                ch = self.next()
                if ch == self.lx.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def _quote_mark(self, out: list[str]) -> None:
        """Consume a quote character, keeping it only in raw-quotes mode."""
        ch = self.next()
        if self.lx.raw_quotes:
            out.append(ch)

    def single_quote(self) -> str:
        out: list[str] = []
        self._quote_mark(out)
        while True:
            if self.peek() == _EOF:
                raise ShellError(
                    "unexpected end of statement while looking for matching single-quote")
            if self.peek() == "'":
                self._quote_mark(out)
                return "".join(out)
            out.append(self.next())

    def double_quote(self) -> str:
        out: list[str] = []
        self._quote_mark(out)
        while True:
            nxt = self.peek()
            if nxt == _EOF:
                raise ShellError(
                    "unexpected end of statement while looking for matching double-quote")
            if nxt == '"':
                self._quote_mark(out)
                return "".join(out)
            if nxt == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.lx.escape:
                if self.raw_escapes:
                    out.append(ch)
                after = self.peek()
                if after == _EOF:
                    continue
                if after in ('"', "$", self.lx.escape):
                    ch = self.next()
            out.append(ch)

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            # unicode.IsDigit is a decimal digit (Nd: isdecimal), not any digit (isdigit
            # takes "²"); unicode.IsLetter is isalpha
            if not out and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lx.skip_unset:
                return "$" + name
            return value
        self.next()
        if self.peek() == _EOF:
            raise ShellError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == _EOF:
            raise ShellError("syntax error: missing '}'")
        modifier = ch
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lx.skip_unset:
                return "${" + name + "}"
            return value
        if not self.lx.extended:
            return self._legacy_modifier(name, ch)
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
            if ch in "#%":
                raise ShellError(f"unsupported modifier ({modifier}) in substitution")
        if ch in ("+", "-", "?", "#", "%"):
            return self._modifier(name, ch, modifier, null_is_unset)
        if ch == "/" and not null_is_unset:
            return self._replace(name)
        raise ShellError(f"unsupported modifier ({modifier}) in substitution")

    def _legacy_modifier(self, name: str, ch: str) -> str:
        if ch == "?":
            return self._modifier(name, "?", "?", False)
        if ch != ":":
            raise ShellError("missing ':' in substitution")
        modifier = self.next()
        if modifier not in ("+", "-", "?"):
            self._word_until("}", False, "syntax error: missing '}'")
            raise ShellError(f"unsupported modifier ({modifier}) in substitution")
        return self._modifier(name, modifier, ":" + modifier, True)

    def _word_until(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The text up to *stop*; at the end of input, BuildKit's *missing* message."""
        try:
            return self.process_until(stop, raw_escapes)[0]
        except ShellError:
            if self.peek() == _EOF:
                raise ShellError(missing) from None
            raise

    def _modifier(self, name: str, ch: str, modifier: str, null_is_unset: bool) -> str:
        word = self._word_until("}", ch in "#%", "syntax error: missing '}'")
        value, is_set = self.get_env(name)
        if self.lx.skip_unset and not is_set:
            return "${" + name + modifier + word + "}"
        unset = not is_set or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else value
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if not is_set:
                raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self._word_until("/", True, "syntax error: missing '/' in ${}")
        replacement = self._word_until("}", True, "syntax error: missing '}'")
        value, is_set = self.get_env(name)
        if self.lx.skip_unset and not is_set:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_to_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)


def _pattern_to_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            if nxt not in ("*", "?", "\\"):
                raise ShellError(f"invalid pattern ({pattern}) in substitution: "
                                 f"invalid escape '\\{nxt}'")
            out.append("\\" + nxt)
            i += 1
            continue
        out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_to_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
