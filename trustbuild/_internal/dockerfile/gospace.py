"""Go's three notions of white space, each of which BuildKit's Dockerfile parser uses in its
own places.  Python's (``str.isspace``, ``str.split()``, ``str.strip()``, regex ``\\s``) is
none of them, and a character that one side takes for a space and the other does not
changes where an instruction, a word or a flag ends: what the builder pulls.

- ``unicode.IsSpace`` on runes (``strings.TrimSpace``, ``bytes.TrimLeftFunc``, the shell
  lexer, ``parseWords``): Unicode's White_Space property.  Python's ``isspace`` also takes
  the separators U+001C..U+001F, which Go does not.
- ``unicode.IsSpace`` on single bytes (``extractBuilderFlags`` reads flags byte by byte): of
  ASCII, the same six characters; the bytes 0x85 and 0xA0 inside a multi-byte character
  also count, which the flag reader handles by refusing non-ASCII flags.
- Go regexp's ``\\s`` (the directive pattern): ``[\\t\\n\\f\\r ]``, without ``\\v``.
"""

from __future__ import annotations

ASCII = "\t\n\v\f\r "
UNICODE = ASCII + "\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + (
    "\u2028\u2029\u202f\u205f\u3000")
REGEXP_CLASS = "[\\t\\n\\f\\r ]"  # for a pattern: Go regexp's \s


def is_space(ch: str) -> bool:
    """``unicode.IsSpace`` of one rune."""
    return ch in UNICODE


def trim_left(text: str) -> str:
    """``strings.TrimLeftFunc(text, unicode.IsSpace)``."""
    return text.lstrip(UNICODE)


def trim(text: str) -> str:
    """``strings.TrimSpace``."""
    return text.strip(UNICODE)
