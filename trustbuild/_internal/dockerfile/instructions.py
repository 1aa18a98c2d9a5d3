"""Typed instructions from parser nodes: only what decides which images a build pulls.

Mirrors BuildKit's ``instructions.Parse`` for ``FROM``, ``ARG``, ``COPY``/``ADD`` flags,
``RUN --mount`` and ``ONBUILD`` triggers, with its error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trustbuild._internal.dockerfile import gospace
from trustbuild._internal.dockerfile.parser import EMPTY, Flag, Node, ParsedDockerfile, Text
from trustbuild.errors import DockerfileError

KNOWN_INSTRUCTIONS = frozenset({
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
    "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
})
# Flags BuildKit accepts per instruction; anything else is BuildKit's "unknown flag" error.
ALLOWED_FLAGS = {
    "from": {"platform"},
    "copy": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "add": {"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude", "unpack"},
    "run": {"mount", "network", "security", "device"},
}
# BuildKit 0.8 and docker 20.10's classic builder: "Unknown flag: link" and the like.
LEGACY_FLAGS = {
    "from": {"platform"},
    "copy": {"from", "chown", "chmod"},
    "add": {"chown", "chmod"},
    "run": {"mount", "network", "security"},
}
REPEATABLE_FLAGS = {"mount", "exclude", "device"}
# Mount types that take no `from=`: dockerd 20.10 crashes on `type=tmpfs,from=` (a nil
# pointer in dispatchRunMounts), BuildKit ignores it on ssh and rejects it on secret.
NO_FROM_MOUNTS = frozenset({"tmpfs", "ssh", "secret"})
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*\Z")
_FIELDS = re.compile(r"[\t\v\f\r ]+")
_NOT_TRIGGERS = {"onbuild", "from", "maintainer"}


@dataclass(frozen=True, slots=True)
class Source:
    """Where an image reference is written: the raw token and, when it can be rewritten in
    place, its exact span."""

    raw: str
    span: tuple[int, int] | None
    line: int
    column: int  # 1-based; 0 when unknown


def _source(text: Text, line: int, full_text: str) -> Source:
    if not text.value:
        return Source("", None, line, 0)
    start = text.start
    contiguous = text.offsets == tuple(range(start, start + len(text)))
    column = start - full_text.rfind("\n", 0, start)
    return Source(text.value, (start, text.end) if contiguous else None, line, column)


@dataclass(frozen=True, slots=True)
class ArgDecl:
    key: str
    value: str | None  # None: declared without a default


@dataclass(frozen=True, slots=True)
class FromSpec:
    """One ``COPY --from`` or ``RUN --mount …,from=`` value (never variable-expanded)."""

    kind: str  # "COPY --from" | "RUN --mount from"
    value: str
    source: Source


@dataclass(slots=True)
class Stage:
    index: int
    base: Source  # the FROM base name as written
    name: str | None  # lowercased
    platform: str | None  # the --platform value as written (before expansion)
    line: int
    from_specs: list[FromSpec] = field(default_factory=list)
    triggers: list[tuple[Node, list[FromSpec]]] = field(default_factory=list)  # ONBUILD decls
    uses_buildkit_only: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class Instructions:
    meta_args: list[tuple[int, list[ArgDecl]]]
    stages: list[Stage]


def build(parsed: ParsedDockerfile, legacy_flags: bool = False) -> Instructions:
    """The typed instructions; *legacy_flags*: only the flags BuildKit 0.8 knows."""
    flags = LEGACY_FLAGS if legacy_flags else ALLOWED_FLAGS
    meta: list[tuple[int, list[ArgDecl]]] = []
    stages: list[Stage] = []
    for node in parsed.nodes:
        if node.keyword not in KNOWN_INSTRUCTIONS:
            written = node.original.strip().value.split(maxsplit=1)
            raise DockerfileError(f"unknown instruction: {written[0] if written else ''}",
                                  node.start_line)
        _check_flags(node, node.keyword, flags)
        if node.keyword == "onbuild" and node.sub is not None:
            _check_flags(node.sub, node.sub.keyword, flags)
        if node.keyword == "from":
            stages.append(_from(node, len(stages), parsed))
        elif not stages:
            if node.keyword != "arg":
                raise DockerfileError("no build stage in current context", node.start_line)
            meta.append((node.start_line, arg_decls(node, parsed.escape)))
        else:
            _stage_instruction(stages[-1], node, parsed)
    if not stages:
        raise DockerfileError("dockerfile contains no stages to build")
    return Instructions(meta, stages)


def _check_flags(node: Node, keyword: str,
                 table: dict[str, set[str]] = ALLOWED_FLAGS) -> dict[str, list[Flag]]:
    if keyword not in ALLOWED_FLAGS:
        return {}  # flags of other instructions are not about pulls
    allowed = table.get(keyword, set())
    seen: dict[str, list[Flag]] = {}
    for flag in node.flags:
        if flag.name not in allowed:
            raise DockerfileError(f"unknown flag: --{flag.name}", node.start_line)
        if flag.name in seen and flag.name not in REPEATABLE_FLAGS:
            raise DockerfileError(f"duplicate flag specified: --{flag.name}", node.start_line)
        if flag.value is None and flag.name in ("platform", "from", "mount"):
            raise DockerfileError(f"missing a value on flag: --{flag.name}", node.start_line)
        seen.setdefault(flag.name, []).append(flag)
    return seen


def _from(node: Node, index: int, parsed: ParsedDockerfile) -> Stage:
    flags = _check_flags(node, "from")
    fields = _split_fields(node.args)
    if len(fields) not in (1, 3) or (len(fields) == 3 and fields[1].value.lower() != "as"):
        raise DockerfileError("FROM requires either one or three arguments", node.start_line)
    name = None
    if len(fields) == 3:
        name = fields[2].value.lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(
                f"invalid name for build stage: {fields[2].value!r}, name can't start with a "
                "number or contain symbols", node.start_line)
    platform = flags["platform"][0].value if "platform" in flags else None
    return Stage(index, _source(fields[0], node.start_line, parsed.text), name, platform,
                 node.start_line)


def _split_fields(args: Text) -> list[Text]:
    fields: list[Text] = []
    pos = 0
    for match in _FIELDS.finditer(args.value):
        if match.start() > pos:
            fields.append(args[pos:match.start()])
        pos = match.end()
    if pos < len(args):
        fields.append(args[pos:])
    return fields


def _stage_instruction(stage: Stage, node: Node, parsed: ParsedDockerfile) -> None:
    if node.keyword == "onbuild":
        sub = node.sub
        assert sub is not None
        if sub.keyword in _NOT_TRIGGERS:
            raise DockerfileError(f"{sub.keyword.upper()} isn't allowed as an ONBUILD trigger",
                                  node.start_line)
        if sub.keyword not in KNOWN_INSTRUCTIONS:
            raise DockerfileError(f"unknown instruction: {sub.keyword.upper()}", node.start_line)
        stage.triggers.append((sub, from_specs(sub, parsed.text)))
        return
    stage.from_specs.extend(from_specs(node, parsed.text))
    if node.heredocs:
        stage.uses_buildkit_only.append((node.start_line, "heredoc"))
    if node.keyword == "run" and any(f.name == "mount" for f in node.flags):
        stage.uses_buildkit_only.append((node.start_line, "RUN --mount"))


def from_specs(node: Node, full_text: str) -> list[FromSpec]:
    """The ``--from`` / mount ``from=`` values of one instruction (ONBUILD sub-nodes too)."""
    if node.keyword not in ALLOWED_FLAGS or node.keyword == "from":
        return []
    flags = _check_flags(node, node.keyword)
    specs: list[FromSpec] = []
    for flag in flags.get("from", []):
        assert flag.value is not None
        if "$" in flag.value:
            raise DockerfileError("variable expansion is not supported for --from, define a new "
                                  "stage with FROM using ARG from global scope as a workaround",
                                  node.start_line)
        raw = flag.value_raw or EMPTY
        source = _source(raw, node.start_line, full_text)
        if raw.value != flag.value:  # quotes or escapes: not a plain token to rewrite
            source = Source(raw.value, None, source.line, source.column)
        specs.append(FromSpec("COPY --from", flag.value, source))
    for flag in flags.get("mount", []):
        spec = _mount_from(flag, node.start_line, full_text)
        if spec is not None:
            specs.append(spec)
    return specs


def _mount_from(flag: Flag, line: int, full_text: str) -> FromSpec | None:
    """``RUN --mount`` CSV: keys lowercased, type defaults to bind; only ``from`` matters."""
    assert flag.value is not None
    raw = flag.value_raw or EMPTY
    fields = csv_fields(flag.value, line)
    values: dict[str, tuple[str, int, int]] = {}
    for text, start, end in fields:
        key, eq, value = text.partition("=")
        key = key.strip().lower()
        if eq:
            values[key] = (value, start + len(text) - len(value), end)
        else:
            values.setdefault(key, ("", end, end))
    if "from" not in values:
        return None
    mount_type = values.get("type", ("bind", 0, 0))[0].lower()
    value, start, end = values["from"]
    if mount_type in NO_FROM_MOUNTS:
        raise DockerfileError(f"{mount_type} mount does not support from (refused: the "
                              "builders ignore it, reject it or crash on it)", line)
    if "$" in value[:-1]:
        raise DockerfileError("'from' doesn't support variable expansion, define alias stage "
                              "instead", line)
    offset = _unquoted_offset(raw.value, flag.value)
    span_text = raw[start + offset:end + offset] if offset is not None else EMPTY
    source = _source(span_text, line, full_text)
    if offset is None or span_text.value != value:
        source = Source(value, None, line, source.column)
    return FromSpec("RUN --mount from", value, source)


def _unquoted_offset(raw: str, value: str) -> int | None:
    """Where *value* starts in *raw* when the flag value was written plainly or wholly quoted."""
    if raw == value:
        return 0
    if len(raw) == len(value) + 2 and raw[0] == raw[-1] and raw[0] in "'\"" \
            and raw[1:-1] == value:
        return 1
    return None


def csv_fields(text: str, line: int) -> list[tuple[str, int, int]]:
    """Go ``encoding/csv`` fields of one record: (value, start, end) in *text*; a quoted field's
    span is its inside, and ``""`` stands for one quote."""
    fields: list[tuple[str, int, int]] = []
    pos = 0
    while True:
        if pos < len(text) and text[pos] == '"':
            out: list[str] = []
            i = pos + 1
            while True:
                close = text.find('"', i)
                if close == -1:
                    raise DockerfileError(f"invalid mount value {text!r}: extraneous or missing "
                                          '" in quoted-field', line)
                out.append(text[i:close])
                if text.startswith('"', close + 1):
                    out.append('"')
                    i = close + 2
                    continue
                break
            fields.append(("".join(out), pos + 1, close))
            pos = close + 1
            if pos < len(text) and text[pos] != ",":
                raise DockerfileError(f"invalid mount value {text!r}: extraneous or missing \" "
                                      "in quoted-field", line)
        else:
            comma = text.find(",", pos)
            stop = len(text) if comma == -1 else comma
            fields.append((text[pos:stop], pos, stop))
            pos = stop
        if pos >= len(text):
            return fields
        pos += 1  # the comma


def arg_decls(node: Node, escape: str) -> list[ArgDecl]:
    """``ARG k[=v] …``: words split on blanks outside quotes, values kept raw (quotes are removed
    when the value is expanded)."""
    words = _arg_words(node.args.value, escape)
    if not words:
        raise DockerfileError("ARG requires at least one argument", node.start_line)
    decls = []
    for word in words:
        key, eq, value = word.partition("=")
        decls.append(ArgDecl(key, value if eq else None))
    return decls


def _arg_words(text: str, escape: str) -> list[str]:
    words: list[str] = []
    word: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if not quote and gospace.is_space(ch):  # parseWords: unicode.IsSpace
            if word:
                words.append("".join(word))
                word = []
            i += 1
            continue
        if ch == escape and i + 1 < len(text):
            word.append(ch + text[i + 1])
            i += 2
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
        word.append(ch)
        i += 1
    if word:
        words.append("".join(word))
    return words
