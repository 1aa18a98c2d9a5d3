"""Which images a build pulls, read statically as the builder that will build it reads it.

Input: Dockerfile text and the build options that change the answer (build args, target,
target platforms, the reader: which builder or frontend reads the file).  Output: every
external image the build resolves, with where it is written.  Anything that cannot be decided
is a :class:`DockerfileError` naming the line: a missed image would be an unverified pull.

When the reader is not known exactly it has several rule sets (``readers``); the file is read
under each, and refused when they disagree about what is pulled.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

from trustbuild._internal.dockerfile import instructions as ins
from trustbuild._internal.dockerfile.parser import ParsedDockerfile, match_directive, parse
from trustbuild._internal.dockerfile.platforms import (
    Platform,
    builtin_args,
    host_platform,
    parse_platform,
)
from trustbuild._internal.dockerfile.readers import (
    CLASSIC,
    CURRENT,
    Family,
    Reader,
    Rules,
    frontend_rules,
)
from trustbuild._internal.dockerfile.shell import Lexer
from trustbuild._internal.reference import ImageReference, parse_normalized
from trustbuild.errors import (
    DockerfileError,
    InvalidReferenceError,
    ShellError,
    UsageError,
    reading_dockerfile,
)


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
    # Which frontend reads the file (None: the rules of *builder*, current BuildKit's or
    # docker 20.10's classic builder's).
    reader: Reader | None = None
    # A trusted frontend image the pinned copy will name in `# syntax=` (policy): BuildKit
    # then reads the file with it, whatever the file's own `# syntax=` says.
    frontend: str | None = None

    def rule_sets(self) -> tuple[Rules, ...]:
        if self.reader is not None:
            return self.reader.rule_sets()
        return (CLASSIC,) if self.builder is Builder.CLASSIC else (CURRENT,)


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
    # The rule sets the file was read under (all agreed), e.g. ("buildkit-0.8",).
    rules: tuple[str, ...] = ()
    # FROM images whose config's ONBUILD triggers were not given (BuildOptions.
    # onbuild_triggers): read them at the signed digest and analyse again.
    unread_trigger_images: list[ImagePull] = field(default_factory=list)
    # Where the file's own `# syntax=` value is, as its reader detects it (for pinning a
    # policy frontend in its place).
    # Why each stage's images are or are not pulled, for people (`-v`).
    decisions: list[str] = field(default_factory=list)


def find_pulls(text: str, options: BuildOptions | None = None) -> list[ImagePull]:
    return analyse(text, options).pulls


def analyse(text: str, options: BuildOptions | None = None, *,
            path: str | None = None) -> Analysis:
    """Every image a build of *text* pulls, read by every rule set its reader may use.

    Raises :class:`DockerfileError` (carrying *path*, the Dockerfile's name for messages) for
    a file the reader rejects, or one whose readers disagree about what is pulled."""
    options = options or BuildOptions()
    with reading_dockerfile(path):
        if "BUILDKIT_DISABLE_FILEOP" in options.build_args:
            # BuildKit before 0.11 then copies with a helper image of its own
            # (docker/dockerfile-copy), which no Dockerfile line names
            raise UsageError("--build-arg BUILDKIT_DISABLE_FILEOP is refused: it makes "
                                  "BuildKit before 0.11 pull its own copy helper image "
                                  "(docker/dockerfile-copy), which trustbuild cannot verify")
        outcomes = [outcome for outer in options.rule_sets()
                    for outcome in _read_under(text, options, outer)]
        return _agreed(outcomes)


@dataclass(slots=True)
class _Outcome:
    label: str
    analysis: Analysis | None
    error: DockerfileError | None


def _read_under(text: str, options: BuildOptions, outer: Rules) -> list[_Outcome]:
    """The file read by the *outer* reader, and then by the frontend a `# syntax=` line (or
    the policy's frontend) hands it to, under each rule set that frontend may have."""
    try:
        syntax = _syntax_pull(text, options, outer)
    except DockerfileError as exc:
        return [_Outcome(outer.label, None, exc)]
    inner_sets: tuple[Rules, ...] = (outer,)
    if syntax is not None:
        inner_sets = frontend_rules(syntax.reference.name, syntax.reference.tag,
                                    syntax.reference.digest is not None and
                                    syntax.reference.tag is None)
    outcomes = []
    for inner in inner_sets:
        label = outer.label if inner is outer else f"{outer.label} -> {inner.label}"
        try:
            analysis = _convert(text, options, inner)
        except DockerfileError as exc:
            outcomes.append(_Outcome(label, None, exc))
            continue
        if syntax is not None:
            analysis.pulls.insert(0, syntax)
        analysis.rules = (label,)
        outcomes.append(_Outcome(label, analysis, None))
    return outcomes


def _convert(text: str, options: BuildOptions, rules: Rules) -> Analysis:
    try:
        parsed = parse(text, rules)
        program = ins.build(parsed, legacy_flags=not rules.heredocs)
        normalized = rules.normalized_platforms
        try:
            build_platform = (parse_platform(options.build_platform, normalized=normalized)
                              if options.build_platform else host_platform())
            targets = [parse_platform(p, normalized=normalized)
                       for p in options.platforms] or [build_platform]
        except DockerfileError as exc:  # the command line's, not the Dockerfile's
            raise UsageError(f"--platform: {exc.message}") from None
        warnings = list(parsed.warnings)
        pulls: list[ImagePull] = []
        literals: list[LiteralBase] = []
        unread: list[ImagePull] = []
        decisions: list[str] = []
        for target in targets:
            conversion = _Conversion(parsed, program, options, rules, build_platform, target)
            pulls.extend(conversion.run(warnings))
            literals.extend(conversion.literal_bases)
            unread.extend(conversion.unread_trigger_images)
            decisions.extend(conversion.decisions)
    except ShellError as exc:  # pragma: no cover - converted where the line is known
        raise DockerfileError(str(exc)) from None
    return Analysis(parsed, pulls, warnings, literals, unread_trigger_images=unread,
                    decisions=list(dict.fromkeys(decisions)))


_PullKey = tuple[str, str | None, str, tuple[int, int] | None]


def _pull_key(pull: ImagePull) -> _PullKey:
    """What readers must agree on: the image, its platform, and where it is written (the
    pinned copy rewrites it there, so a pull two readers place on different lines is a
    disagreement, even when they pull the same image)."""
    return str(pull.reference), pull.platform, pull.instruction, pull.span


def _agreed(outcomes: list[_Outcome]) -> Analysis:
    """The one answer every rule set gives, or a refusal naming the readers that differ."""
    failed = [o for o in outcomes if o.error is not None]
    read = [o for o in outcomes if o.analysis is not None]
    if not read:
        raise failed[0].error  # type: ignore[misc]
    if failed:
        bad = failed[0]
        assert bad.error is not None
        raise DockerfileError(
            f"the readers that may read this file disagree: {bad.label} rejects it "
            f"({bad.error.message}), {read[0].label} builds it; refusing, since which one "
            "reads it decides what is pulled (choose the builder exactly, e.g. "
            "--builder-rules)", bad.error.line)
    first = read[0].analysis
    assert first is not None
    want = {_pull_key(p) for p in first.pulls}
    for other in read[1:]:
        assert other.analysis is not None
        got = {_pull_key(p) for p in other.analysis.pulls}
        if got != want:
            raise DockerfileError(_disagreement(read[0], other, want, got))
    first.rules = tuple(o.label for o in read)
    return first


def _disagreement(one: _Outcome, other: _Outcome, want: set[_PullKey],
                  got: set[_PullKey]) -> str:
    def where(outcome: _Outcome, keys: set[_PullKey]) -> str:
        assert outcome.analysis is not None
        found = [f"{p.reference} ({p.instruction} line {p.line})"
                 for p in outcome.analysis.pulls if _pull_key(p) in keys]
        return ", ".join(dict.fromkeys(found)) or "nothing more"
    return (f"the readers that may read this file disagree about what it pulls: under "
            f"{one.label} it pulls {where(one, want - got)}; under {other.label} "
            f"{where(other, got - want)}; refusing, since trustbuild cannot tell which one "
            "will read it (choose the builder exactly, e.g. --builder-rules, or pin the "
            "frontend with `# syntax=docker/dockerfile:1.N`)")


def _syntax_pull(text: str, options: BuildOptions, outer: Rules) -> ImagePull | None:
    """The frontend image BuildKit hands the file to: the policy's, ``BUILDKIT_SYNTAX``, or
    the file's ``# syntax=`` as the *outer* reader detects it.  The classic builder has
    none."""
    if outer.family is not Family.BUILDKIT:
        return None
    if options.frontend:
        if options.build_args.get("BUILDKIT_SYNTAX"):
            # BuildKit takes BUILDKIT_SYNTAX before any `# syntax=`, the pinned one included:
            # it would replace the frontend the policy names.
            raise DockerfileError("--build-arg BUILDKIT_SYNTAX would replace the frontend "
                                  "your policy names ([frontend] image): drop one of them")
        ref = _image(options.frontend, 0, "policy frontend", outer)
        return ImagePull(ref, "", options.frontend, POLICY_FRONTEND, None, None, None, 0, 0,
                         None, False)
    override = options.build_args.get("BUILDKIT_SYNTAX")
    if override:
        ref = _image(override.split(" ", 1)[0], 0, "BUILDKIT_SYNTAX build arg", outer)
        return ImagePull(ref, "", override, "BUILDKIT_SYNTAX", None, None, None, 0, 0, None,
                         True)
    directive = detect_syntax(text, legacy=outer.legacy_syntax_scan)
    if directive is None:
        return None
    value, line, span = directive
    ref = _image(value, line, "syntax directive", outer)
    column = span[0] - text.rfind("\n", 0, span[0])
    return ImagePull(ref, value, value, "syntax", None, None, None, line, column, span,
                     False)


POLICY_FRONTEND = "syntax (policy)"  # the instruction of the policy's frontend pull
def detect_syntax(text: str, *, legacy: bool = False
                  ) -> tuple[str, int, tuple[int, int]] | None:
    """BuildKit's ``DetectSyntax`` for the ``#`` form: the first token of the ``syntax``
    directive among the leading directive lines.

    Current BuildKit skips a BOM and a first ``#!`` line, knows only ``syntax``, ``escape``
    and ``check`` and stops at a repeated key.  BuildKit 0.8 (*legacy*) takes every leading
    ``# key=value`` line as a directive, the last ``syntax`` winning, and stops at a BOM or
    ``#!`` line."""
    offset = 0
    line_no = 0
    if not legacy:
        offset = 1 if text.startswith("\ufeff") else 0
        first, _, _ = text[offset:].partition("\n")
        if first.startswith("#!"):
            offset += len(first) + 1
            line_no = 1
    seen: set[str] = set()
    found: tuple[str, int, tuple[int, int]] | None = None
    while offset <= len(text):
        end = text.find("\n", offset)
        end = len(text) if end == -1 else end
        line = text[offset:end].removesuffix("\r")
        line_no += 1
        match = match_directive(line, unicode_space=not legacy)
        if match is None:
            return found
        key = match[0].lower()
        if not legacy and (key not in ("syntax", "escape", "check") or key in seen):
            return found
        seen.add(key)
        if key == "syntax":
            value = match[1].split(" ", 1)[0]
            start = offset + match[2]
            found = value, line_no, (start, start + len(value))
            if not legacy:
                return found
        offset = end + 1
    return found


def go_quote(text: str) -> str:
    """Go's ``%q`` for the plain strings that appear in BuildKit's messages."""
    return json.dumps(text, ensure_ascii=False)


def _image(text: str, line: int, what: str, rules: Rules) -> ImageReference:
    try:
        return normalized(text, rules)
    except InvalidReferenceError as exc:
        raise DockerfileError(f"failed to parse {what} {text!r}: {exc}", line) from None


def normalized(text: str, rules: Rules) -> ImageReference:
    """``ParseNormalizedNamed`` of the reader's distribution/reference: before v0.6 an
    upper-case first component (``LOCALHOST/x``) was a path, so an error."""
    if not rules.uppercase_domain:
        first, slash, _ = text.partition("/")
        if slash and first != first.lower() and not any(c in first for c in ".:"):
            raise InvalidReferenceError("invalid reference format: repository name must "
                                        "be lowercase")
    return parse_normalized(text).with_default_tag()


@dataclass(slots=True)
class _StageState:
    stage: ins.Stage
    base_text: str  # expanded
    base_stage: int | None  # index of the stage it builds on
    image: ImageReference | None  # None: a stage or scratch
    platform: Platform
    deps: set[int] = field(default_factory=set)
    pulls: list[ImagePull] = field(default_factory=list)


PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy")
_STAGE_INDEX = re.compile(r"[+-]?[0-9]+\Z")  # Go's strconv.Atoi


class _Conversion:
    """One conversion for one target platform, as the reader with *rules* does it
    (``dockerfile2llb`` for BuildKit, the dispatcher of dockerd's classic builder)."""

    def __init__(self, parsed: ParsedDockerfile, program: ins.Instructions,
                 options: BuildOptions, rules: Rules, build: Platform,
                 target: Platform) -> None:
        self.parsed = parsed
        self.program = program
        self.options = options
        self.rules = rules
        self.build = build
        self.target = target
        self.lexer = Lexer(escape=parsed.escape, extended=rules.extended_modifiers)
        self.states: list[_StageState] = []
        self.literal_bases: list[LiteralBase] = []
        self.unread_trigger_images: list[ImagePull] = []
        self.decisions: list[str] = []

    def run(self, warnings: list[str]) -> list[ImagePull]:
        target_index = self._target_index()
        env = self._meta_args(target_index)
        for stage in self.program.stages:
            self.states.append(self._dispatch(stage, env))
        for state in self.states:
            self._resolve_from_specs(state)
        chosen = self._stages_to_pull(target_index)
        if self.rules.is_classic:
            self._reject_buildkit_only(chosen)
        self._explain(target_index, chosen)
        pulls: list[ImagePull] = []
        for index in sorted(chosen):
            state = self.states[index]
            pulls.extend(state.pulls)
            if state.image is not None and str(state.image) not in self.options.onbuild_triggers:
                self.unread_trigger_images.extend(p for p in state.pulls
                                                  if p.instruction == "FROM")
        return pulls

    def _explain(self, target_index: int, chosen: set[int]) -> None:
        """Why each stage's images are pulled or not, and what its FROM expanded to."""
        target = self.program.stages[target_index]
        target_name = target.name or f"stage {target.index}"
        why_target = f"--target {self.options.target}" if self.options.target else \
            "the last stage"
        for state in self.states:
            stage = state.stage
            name = stage.name or str(stage.index)
            where = f"stage {name} (line {stage.line})"
            if stage.index not in chosen:
                self.decisions.append(
                    f"{where}: not built, so not pulled: the target, {target_name} "
                    f"({why_target}), does not need it ({self.rules.label} rules)")
                continue
            built_for = f" for {state.platform}"
            if "$" in stage.base.raw:
                self.decisions.append(f"{where}: FROM {stage.base.raw} is {state.base_text} "
                                      f"after build args{built_for}")
            elif stage.platform is not None:
                self.decisions.append(f"{where}: FROM --platform={stage.platform} builds"
                                      f"{built_for}")

    # -- arguments --------------------------------------------------------------------------

    def _target_index(self) -> int:
        stages = self.program.stages
        if self.options.target is None:
            return len(stages) - 1
        wanted = self.options.target.lower()
        # The classic builder stops at the first stage of that name, BuildKit uses the last.
        ordered = stages if self.rules.first_duplicate_target else list(reversed(stages))
        for stage in ordered:
            if stage.name == wanted:
                return stage.index
        names = ", ".join(s.name for s in stages if s.name) or "none has a name"
        raise DockerfileError(
            f"failed to reach build target {self.options.target} in Dockerfile (its stages: "
            f"{names})")

    def _builtins(self, target_index: int) -> dict[str, str]:
        if not self.rules.builtin_platform_args:
            # The classic builder defines none of BuildKit's platform args; it has the
            # proxy args instead, usable in FROM without an ARG line.
            build_args = self.options.build_args
            return ({k: build_args[k] for k in PROXY_ARGS if k in build_args}
                    if self.rules.proxy_args else {})
        stages = self.program.stages
        target_stage = self.options.target or stages[target_index].name or "default"
        builtins = builtin_args(self.build, self.target, target_stage)
        if not self.rules.targetstage:
            del builtins["TARGETSTAGE"]
        return {k: self.options.build_args.get(k, v) for k, v in builtins.items()}

    def _meta_args(self, target_index: int) -> dict[str, str]:
        env = self._builtins(target_index)
        build_args = self.options.build_args
        for line, decls in self.program.meta_args:
            # The classic builder expands a whole ARG line against the args before it.
            before = dict(env) if self.rules.arg_line_at_once else env
            for decl in decls:
                # the classic builder expands the key as a word too (ArgCommand.Expand)
                key = (self._expand_meta(decl.key, before, line)
                       if self.rules.arg_keys_expanded else decl.key)
                if key in build_args:
                    env[key] = build_args[key]
                elif decl.value is not None:
                    env[key] = self._expand_meta(decl.value, before, line)
                elif self.rules.bare_global_args_empty:
                    env[key] = ""
                elif self.rules.bare_global_args_unset:
                    env.pop(key, None)  # AddMetaArg(key, nil) replaces an earlier value
        return env

    def _expand_meta(self, word: str, env: Mapping[str, str], line: int) -> str:
        try:
            return self.lexer.process_word(word, env)
        except ShellError as exc:
            if self.rules.meta_arg_errors_blank:
                return ""  # BuildKit 0.8 ignores the error and the arg is empty
            raise DockerfileError(str(exc), line) from None

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
                why = (f" (read as {self.rules.label}: the classic builder has no built-in "
                       "platform args such as $BUILDPLATFORM; declare it with ARG and pass "
                       "--build-arg, or build with BuildKit)") if not \
                    self.rules.builtin_platform_args else ""
                raise DockerfileError(f"empty platform value in FROM --platform{why}",
                                      stage.line)
            platform = parse_platform(expanded, stage.line,
                                      normalized=self.rules.normalized_platforms)
        base_stage = self._earlier_stage_named(base, stage.index)
        state = _StageState(stage, base, base_stage, None, platform)
        if (base_stage is not None or base == "scratch") and \
                ("$" in stage.base.raw or base != stage.base.raw) and stage.base.span is not None:
            literal = self.program.stages[base_stage].name if base_stage is not None else base
            self.literal_bases.append(LiteralBase(stage.base.span, stage.base.raw,
                                                  literal or base, stage.line))
        if base_stage is not None:
            state.deps.add(base_stage)
            return state
        if base == "scratch":
            return state
        try:
            state.image = normalized(base, self.rules)
        except InvalidReferenceError as exc:
            raise DockerfileError(f"failed to parse stage name {go_quote(base)}: {exc}",
                                  stage.line) from None
        state.pulls.append(self._pull(state, state.image, stage.base, base, "FROM",
                                      from_args="$" in stage.base.raw))
        return state

    def _earlier_stage_named(self, base: str, index: int) -> int | None:
        wanted = base.lower() if self.rules.stage_names_fold_case else base
        for earlier in reversed(self.program.stages[:index]):
            if earlier.name == wanted:
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
            specs = trigger_from_specs(trigger, state.stage.line, self.rules)
            found.append((f"(from {state.image.familiar}) ", specs))
        return found

    def _resolve_spec(self, state: _StageState, spec: ins.FromSpec, instruction: str) -> None:
        line = spec.source.line
        if spec.kind == "COPY --from" and _STAGE_INDEX.match(spec.value):
            index = int(spec.value)  # "+0" and "-0" are stage 0, as strconv.Atoi reads them
            if index < 0 or index >= state.stage.index:
                raise DockerfileError(
                    f"invalid from flag value {spec.value}: refers to current or later stage",
                    line)
            state.deps.add(index)
            return
        named = self._stage_named(spec.value.lower(), state.stage.index)
        if named is not None:
            if named == state.stage.index or (named > state.stage.index and
                                              not self.rules.copy_from_later_stage):
                raise DockerfileError(f"cannot copy from stage {go_quote(spec.value)}, it "
                                      "needs to be defined before current stage", line)
            state.deps.add(named)
            return
        try:
            ref = normalized(spec.value, self.rules)
        except InvalidReferenceError as exc:
            raise DockerfileError(f"failed to parse stage name {go_quote(spec.value)}: {exc}",
                                  line) from None
        state.pulls.append(self._pull(state, ref, spec.source, spec.value, instruction))

    def _stage_named(self, name: str, current: int) -> int | None:
        """A stage named *name* for ``--from``: any stage for BuildKit (the last of that
        name); for the classic builder only one already built, anything else is an image."""
        stages = self.program.stages
        if self.rules.unknown_from_is_image:
            stages = stages[:current]
        for stage in reversed(stages):
            if stage.name == name:
                return stage.index
        return None

    def _stages_to_pull(self, target_index: int) -> set[int]:
        if self.options.all_stages:
            return set(range(len(self.states)))
        if not self.rules.prunes_unreachable:
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


def trigger_from_specs(trigger: str, line: int, rules: Rules) -> list[ins.FromSpec]:
    """The ``--from`` values of one ONBUILD trigger stored in a base image's config (placed
    at the child's FROM line: the trigger is not written in this file)."""
    nodes = parse(trigger, rules).nodes
    if len(nodes) != 1:  # BuildKit runs a trigger as one instruction; so must its reading
        raise DockerfileError(f"a base image's ONBUILD trigger {trigger[:200]!r} is not one "
                              "instruction", line)
    specs = ins.from_specs(nodes[0], trigger)
    return [ins.FromSpec(s.kind, s.value, ins.Source(s.value, None, line, 0)) for s in specs]


TriggerReader = Callable[[Sequence[ImagePull]], Sequence[str]]


def analyse_with_triggers(text: str, options: BuildOptions, read_triggers: TriggerReader, *,
                          path: str | None = None, limit: int = 32,
                          executor: Executor | None = None,
                          first: Analysis | None = None) -> Analysis:
    """:func:`analyse`, then the ONBUILD triggers of every base image the build uses, read
    by *read_triggers* (given the FROM pulls of one image, one per place and platform; the
    caller reads the config at the signed digest), analysed again until no base image is
    left unread.  A trigger may name a stage of this file (``ONBUILD COPY --from=helper``):
    that stage, and its pulls, join the build.  With *executor*, the images of one round are
    read concurrently.  *first*: ``analyse(text, options)`` when the caller has it already.
    """
    triggers = dict(options.onbuild_triggers)
    analysis = first
    for _ in range(limit):
        if analysis is None:
            analysis = analyse(text, replace(options, onbuild_triggers=triggers), path=path)
        unread: dict[str, list[ImagePull]] = {}
        for pull in analysis.unread_trigger_images:
            if str(pull.reference) not in triggers:
                unread.setdefault(str(pull.reference), []).append(pull)
        if not unread:
            return analysis
        if executor is None:
            answers = [read_triggers(pulls) for pulls in unread.values()]
        else:
            answers = list(executor.map(read_triggers, unread.values()))
        for key, found in zip(unread, answers, strict=True):
            triggers[key] = list(found)
        analysis = None
    raise DockerfileError(f"ONBUILD triggers still bring in new base images after {limit} "
                          "rounds", path=path)
