"""Which images a build pulls: BuildKit's ``dockerfile2llb`` semantics, statically.

Input: Dockerfile text and the build options that change the answer (build args, target,
target platforms, builder).  Output: every external image the build resolves, with where it is
written.  Anything that cannot be decided is a :class:`DockerfileError` naming the line: a
missed image would be an unverified pull.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from trustbuild._internal.dockerfile import instructions as ins
from trustbuild._internal.dockerfile.parser import ParsedDockerfile, parse
from trustbuild._internal.dockerfile.platforms import (
    Platform,
    builtin_args,
    host_platform,
    parse_platform,
)
from trustbuild._internal.dockerfile.shell import Lexer
from trustbuild._internal.reference import ImageReference, parse_normalized
from trustbuild.errors import DockerfileError, InvalidReferenceError, ShellError


class Builder(enum.Enum):
    BUILDKIT = "buildkit"
    CLASSIC = "classic"


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """The parts of a ``docker build`` command line that decide what is pulled."""

    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platforms: Sequence[str] = ()  # target platforms; none: the build platform
    builder: Builder = Builder.BUILDKIT
    all_stages: bool = False  # every stage, reachable or not (BuildKit's lint/outline view)
    build_platform: str | None = None  # the builder's platform; default: this machine
    # ONBUILD triggers found in base images' configs, by normalized reference.
    onbuild_triggers: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImagePull:
    """One place where the build resolves an external image."""

    reference: ImageReference  # normalized; ``latest`` added when neither tag nor digest
    written: str  # the text as written in the Dockerfile ("" when not written there)
    expanded: str  # the text BuildKit parsed, after build-arg expansion
    instruction: str  # FROM | COPY --from | RUN --mount from | ONBUILD … | syntax | …
    stage: str | None  # the stage's name, or its index as text
    stage_index: int | None
    platform: str | None  # None: the builder's default (the syntax frontend)
    line: int
    column: int
    span: tuple[int, int] | None  # offsets of the written text, when it can be rewritten
    from_args: bool  # the reference came from ARG expansion

    def to_json(self) -> dict[str, object]:
        return {
            "reference": str(self.reference), "written": self.written,
            "expanded": self.expanded, "instruction": self.instruction, "stage": self.stage,
            "stage_index": self.stage_index, "platform": self.platform, "line": self.line,
            "column": self.column, "from_args": self.from_args,
        }


@dataclass(frozen=True, slots=True)
class LiteralBase:
    """A FROM whose base name came from build args and names a stage (or scratch): the pinned
    Dockerfile writes the name literally, so no builder can read it another way."""

    span: tuple[int, int]
    written: str
    literal: str
    line: int


@dataclass(slots=True)
class Analysis:
    parsed: ParsedDockerfile
    pulls: list[ImagePull]
    warnings: list[str]
    literal_bases: list[LiteralBase] = field(default_factory=list)


def find_pulls(text: str, options: BuildOptions | None = None) -> list[ImagePull]:
    return analyse(text, options).pulls


def analyse(text: str, options: BuildOptions | None = None, *,
            path: str | None = None) -> Analysis:
    """Every image the build of *text* pulls.  *path* names the file in errors."""
    options = options or BuildOptions()
    try:
        parsed = parse(text)
        program = ins.build(parsed)
        pulls = list(_syntax_pulls(parsed, options))
        build_platform = (parse_platform(options.build_platform) if options.build_platform
                          else host_platform())
        targets = [parse_platform(p) for p in options.platforms] or [build_platform]
        warnings = list(parsed.warnings)
        literals: list[LiteralBase] = []
        for target in targets:
            conversion = _Conversion(parsed, program, options, build_platform, target)
            pulls.extend(conversion.run(warnings))
            literals.extend(conversion.literal_bases)
    except DockerfileError as exc:
        # TODO(fidelity): raise with the path where the error is found
        if exc.path is None and path is not None:
            raise DockerfileError(exc.message, exc.line, path=path) from None
        raise
    return Analysis(parsed, pulls, warnings, literals)


def _syntax_pulls(parsed: ParsedDockerfile, options: BuildOptions) -> Iterable[ImagePull]:
    """The ``# syntax=`` frontend image (BuildKit only), or ``BUILDKIT_SYNTAX`` instead."""
    if options.builder is not Builder.BUILDKIT:
        return
    override = options.build_args.get("BUILDKIT_SYNTAX")
    if override:
        ref = _image(override.split(" ", 1)[0], 0, "BUILDKIT_SYNTAX build arg")
        yield ImagePull(ref, "", override, "BUILDKIT_SYNTAX", None, None, None, 0, 0, None, True)
        return
    directive = detect_syntax(parsed.text)
    if directive is None:
        return
    value, line, span = directive
    ref = _image(value, line, "syntax directive")
    column = span[0] - parsed.text.rfind("\n", 0, span[0])
    yield ImagePull(ref, value, value, "syntax", None, None, None, line, column, span, False)


def detect_syntax(text: str) -> tuple[str, int, tuple[int, int]] | None:
    """BuildKit's ``DetectSyntax`` for the ``#`` form: the first token of a ``syntax``
    directive among the leading directive lines (after a BOM and a ``#!`` line)."""
    offset = 1 if text.startswith("\ufeff") else 0
    line_no = 0
    first, _, _ = text[offset:].partition("\n")
    if first.startswith("#!"):
        offset += len(first) + 1
        line_no = 1
    directive = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", re.DOTALL)
    seen: set[str] = set()
    while offset <= len(text):
        end = text.find("\n", offset)
        end = len(text) if end == -1 else end
        line = text[offset:end].removesuffix("\r")
        line_no += 1
        if not line.startswith("#"):
            return None
        body = line[1:]
        lead = len(body) - len(body.lstrip())
        match = directive.match(body[lead:])
        if match is None:
            return None
        key = match.group(1).lower()
        if key not in ("syntax", "escape", "check") or key in seen:
            return None
        seen.add(key)
        if key == "syntax":
            value = match.group(2).split(" ", 1)[0]
            start = offset + 1 + lead + match.start(2)
            return value, line_no, (start, start + len(value))
        offset = end + 1
    return None


def go_quote(text: str) -> str:
    """Go's ``%q`` for the plain strings that appear in BuildKit's messages."""
    return json.dumps(text, ensure_ascii=False)


def _image(text: str, line: int, what: str) -> ImageReference:
    try:
        return parse_normalized(text).with_default_tag()
    except InvalidReferenceError as exc:
        raise DockerfileError(f"failed to parse {what} {text!r}: {exc}", line) from None


@dataclass(slots=True)
class _StageState:
    stage: ins.Stage
    base_text: str  # expanded
    base_stage: int | None  # index of the stage it builds on
    image: ImageReference | None  # None: a stage or scratch
    platform: Platform
    deps: set[int] = field(default_factory=set)
    pulls: list[ImagePull] = field(default_factory=list)


class _Conversion:
    """One conversion for one target platform, as ``dockerfile2llb`` does it."""

    def __init__(self, parsed: ParsedDockerfile, program: ins.Instructions,
                 options: BuildOptions, build: Platform, target: Platform) -> None:
        self.parsed = parsed
        self.program = program
        self.options = options
        self.build = build
        self.target = target
        self.lexer = Lexer(escape=parsed.escape)
        self.states: list[_StageState] = []
        self.literal_bases: list[LiteralBase] = []

    def run(self, warnings: list[str]) -> list[ImagePull]:
        target_index = self._target_index()
        env = self._meta_args(target_index)
        for stage in self.program.stages:
            self.states.append(self._dispatch(stage, env))
        for state in self.states:
            self._resolve_from_specs(state)
        chosen = self._stages_to_pull(target_index)
        if self.options.builder is Builder.CLASSIC:
            self._reject_buildkit_only(chosen)
        pulls: list[ImagePull] = []
        for index in sorted(chosen):
            pulls.extend(self.states[index].pulls)
        return pulls

    # -- arguments --------------------------------------------------------------------------

    def _target_index(self) -> int:
        stages = self.program.stages
        if self.options.target is None:
            return len(stages) - 1
        wanted = self.options.target.lower()
        for stage in reversed(stages):
            if stage.name == wanted:
                return stage.index
        raise DockerfileError(
            f"failed to reach build target {self.options.target} in Dockerfile")

    def _meta_args(self, target_index: int) -> dict[str, str]:
        stages = self.program.stages
        target_stage = self.options.target or stages[target_index].name or "default"
        # The classic builder defines none of BuildKit's platform args: $BUILDPLATFORM is
        # empty there unless declared with ARG and given with --build-arg.
        builtins = ({} if self.options.builder is Builder.CLASSIC
                    else builtin_args(self.build, self.target, target_stage))
        build_args = self.options.build_args
        env = {k: build_args.get(k, v) for k, v in builtins.items()}
        for line, decls in self.program.meta_args:
            for decl in decls:
                if decl.key in build_args:
                    env[decl.key] = build_args[decl.key]
                elif decl.value is not None:
                    env[decl.key] = self._expand(decl.value, env, line)
        return env

    def _expand(self, word: str, env: Mapping[str, str], line: int) -> str:
        try:
            return self.lexer.process_word(word, env)
        except ShellError as exc:
            raise DockerfileError(str(exc), line) from None

    # -- stages -----------------------------------------------------------------------------

    def _dispatch(self, stage: ins.Stage, env: Mapping[str, str]) -> _StageState:
        base = self._expand(stage.base.raw, env, stage.line)
        if not base:
            raise DockerfileError(f"base name ({stage.base.raw}) should not be blank",
                                  stage.line)
        platform = self.target
        if stage.platform is not None:
            expanded = self._expand(stage.platform, env, stage.line)
            if not expanded:
                raise DockerfileError("empty platform value in FROM --platform", stage.line)
            platform = parse_platform(expanded, stage.line)
        base_stage = self._earlier_stage_named(base, stage.index)
        state = _StageState(stage, base, base_stage, None, platform)
        if (base_stage is not None or base == "scratch") and "$" in stage.base.raw \
                and stage.base.span is not None:
            self.literal_bases.append(LiteralBase(stage.base.span, stage.base.raw, base,
                                                  stage.line))
        if base_stage is not None:
            state.deps.add(base_stage)
            return state
        if base == "scratch":
            return state
        try:
            state.image = parse_normalized(base).with_default_tag()
        except InvalidReferenceError as exc:
            raise DockerfileError(f"failed to parse stage name {go_quote(base)}: {exc}",
                                  stage.line) from None
        state.pulls.append(self._pull(state, state.image, stage.base, base, "FROM",
                                      from_args="$" in stage.base.raw))
        return state

    def _earlier_stage_named(self, base: str, index: int) -> int | None:
        for earlier in reversed(self.program.stages[:index]):
            if earlier.name == base:
                return earlier.index
        return None

    def _pull(self, state: _StageState, ref: ImageReference, source: ins.Source, expanded: str,
              instruction: str, *, from_args: bool = False) -> ImagePull:
        stage = state.stage
        return ImagePull(ref, source.raw, expanded, instruction,
                         stage.name or str(stage.index), stage.index, str(state.platform),
                         source.line, source.column, source.span, from_args)

    def _resolve_from_specs(self, state: _StageState) -> None:
        for spec in state.stage.from_specs:
            self._resolve_spec(state, spec, spec.kind)
        parent_triggers = self._triggers_for(state)
        for prefix, specs in parent_triggers:
            for spec in specs:
                self._resolve_spec(state, spec, f"ONBUILD {prefix}{spec.kind}")

    def _triggers_for(self, state: _StageState) -> list[tuple[str, list[ins.FromSpec]]]:
        """ONBUILD triggers that run when this stage starts: those declared in its parent
        stage, or those in its base image's config (given by the caller)."""
        if state.base_stage is not None:
            parent = self.program.stages[state.base_stage]
            return [("", specs) for _, specs in parent.triggers]
        if state.image is None:
            return []
        found = []
        for trigger in self.options.onbuild_triggers.get(str(state.image), ()):
            node = parse(trigger).nodes[0]
            specs = ins.from_specs(node, trigger)
            unplaced = [ins.FromSpec(s.kind, s.value,
                                     ins.Source(s.value, None, state.stage.line, 0))
                        for s in specs]
            found.append((f"(from {state.image.familiar}) ", unplaced))
        return found

    def _resolve_spec(self, state: _StageState, spec: ins.FromSpec, instruction: str) -> None:
        line = spec.source.line
        if spec.kind == "COPY --from" and spec.value.isdigit():
            index = int(spec.value)
            if index >= state.stage.index:
                raise DockerfileError(
                    f"invalid from flag value {spec.value}: refers to current or later stage",
                    line)
            state.deps.add(index)
            return
        named = self._stage_named(spec.value.lower())
        if named is not None:
            if named >= state.stage.index:
                raise DockerfileError(f"cannot copy from stage {go_quote(spec.value)}, it "
                                      "needs to be defined before current stage", line)
            state.deps.add(named)
            return
        try:
            ref = parse_normalized(spec.value).with_default_tag()
        except InvalidReferenceError as exc:
            raise DockerfileError(f"failed to parse stage name {go_quote(spec.value)}: {exc}",
                                  line) from None
        state.pulls.append(self._pull(state, ref, spec.source, spec.value, instruction))

    def _stage_named(self, name: str) -> int | None:
        for stage in reversed(self.program.stages):
            if stage.name == name:
                return stage.index
        return None

    def _stages_to_pull(self, target_index: int) -> set[int]:
        if self.options.all_stages:
            return set(range(len(self.states)))
        if self.options.builder is Builder.CLASSIC:
            return set(range(target_index + 1))
        seen: set[int] = set()
        todo = [target_index]
        while todo:
            index = todo.pop()
            if index in seen:
                continue
            seen.add(index)
            todo.extend(self.states[index].deps)
        return seen

    def _reject_buildkit_only(self, chosen: set[int]) -> None:
        for index in sorted(chosen):
            for line, what in self.states[index].stage.uses_buildkit_only:
                raise DockerfileError(f"{what} needs BuildKit; the classic builder cannot "
                                      "build this Dockerfile (set DOCKER_BUILDKIT=1)", line)
