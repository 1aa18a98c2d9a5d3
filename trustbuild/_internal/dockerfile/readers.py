"""Which frontend reads a Dockerfile, and the rules that frontend reads it by.

A Dockerfile is not read by "Docker" but by one of several parsers that disagree about which
images a file pulls: the classic builder inside dockerd, the BuildKit built into dockerd
(v0.8 in docker 20.10), a buildx builder's BuildKit, or the frontend image a ``# syntax=``
line names.  :class:`Reader` names one of them; :meth:`Reader.rule_sets` gives the
:class:`Rules` it reads by.  Where trustbuild cannot know a rule exactly (a frontend version
between the ones measured, an unknown frontend image), a reader has more than one rule set and
the front end reads the file under each: if they disagree about what is pulled, the file is
refused (see ``pulls.analyse``).

The facts, and where each comes from, are in docs/dockerfile.md ("Readers").
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

# The dockerfile frontend version each BuildKit minor release ships (BuildKit's
# frontend/dockerfile/release notes); BuildKit 0.8 is dockerfile 1.2.
_FRONTEND_OF_BUILDKIT = {8: (1, 2), 9: (1, 3), 10: (1, 4), 11: (1, 5), 12: (1, 6), 13: (1, 7),
                         14: (1, 8), 15: (1, 9), 16: (1, 10), 17: (1, 11), 18: (1, 12),
                         19: (1, 13), 20: (1, 14), 21: (1, 15), 22: (1, 16), 23: (1, 17),
                         24: (1, 18), 25: (1, 19)}
# The BuildKit each dockerd release vendors (moby's vendor.mod / vendor.conf).
_BUILDKIT_OF_DOCKERD = {(20, 10): 8, (23, 0): 10, (24, 0): 11, (25, 0): 12, (26, 0): 13,
                        (26, 1): 13, (27, 0): 14, (27, 1): 15, (27, 2): 15, (27, 3): 15,
                        (27, 4): 15, (27, 5): 15, (28, 0): 20, (28, 1): 21, (28, 2): 22}
LEGACY_FRONTEND = (1, 2)  # measured on dockerd 20.10 (BuildKit 0.8): tests/test_readers_stack.py
CURRENT_FRONTEND = (1, 19)  # the recorded corpus (fixtures/buildkit-dockerfile-cases.json)
# Rules whose first frontend version is documented by BuildKit.
HEREDOCS_SINCE = (1, 4)
CHECK_DIRECTIVE_SINCE = (1, 8)
MODIFIERS_SINCE = (1, 7)  # docker.com blog "New Dockerfile capabilities in v1.7.0"
_OFFICIAL_FRONTENDS = ("docker.io/docker/dockerfile", "docker.io/docker/dockerfile-upstream")
_FRONTEND_TAG = re.compile(r"(\d+)(?:\.(\d+))?(?:\.\d+)?(?:-labs)?\Z")


class Family(enum.Enum):
    BUILDKIT = "buildkit"
    CLASSIC = "classic"


@dataclass(frozen=True, slots=True)
class Rules:
    """One way of reading a Dockerfile: each field is a rule where the readers differ."""

    family: Family
    label: str  # short name for messages: "buildkit", "buildkit-0.8", "classic"
    check_directive: bool = True  # `# check=` is a parser directive (else it ends them)
    legacy_syntax_scan: bool = False  # `# syntax` found among any leading `# k=v` lines, the
    #                                   last wins, no BOM or `#!` handling (BuildKit <= 0.8)
    heredocs: bool = True
    extended_modifiers: bool = True  # ${V-w} ${V+w} ${V#p} ${V%p} ${V/p/r} …
    meta_arg_errors_blank: bool = False  # a failing global ARG default becomes "" (0.8)
    targetstage: bool = True  # the TARGETSTAGE built-in arg
    bare_global_args_empty: bool = False  # global `ARG X` sets X to "" (0.8: so a
    #                                       re-declared `ARG TARGETARCH` empties it)
    uppercase_domain: bool = True  # `LOCALHOST/x`: an upper-case first component is a domain
    copy_from_later_stage: bool = False  # COPY --from may name a later stage (0.8)
    # Go's white space: after a directive's `#`, unicode.IsSpace (DirectiveParser) or only
    # regexp \s (0.8's `^#\s*…`); a line's trailing `\r`s all go (trimNewline) or only the
    # one bufio.ScanLines drops (0.8, so `\\\r\r\n` does not continue the line)
    directive_unicode_space: bool = True
    trim_all_cr: bool = True
    # `--platform` values: containerd's Parse then Normalize (0.8) or Parse alone (current)
    normalized_platforms: bool = False
    # -- the classic builder -------------------------------------------------------------
    builtin_platform_args: bool = True
    proxy_args: bool = False  # HTTP_PROXY & co. usable without ARG
    arg_line_at_once: bool = False  # `ARG A=1 B=$A`: the line expands before it is declared
    arg_keys_expanded: bool = False  # `ARG ${K}=v`, `ARG "K"=v`: the key is a word too
    bare_global_args_unset: bool = False  # `ARG T=1` then `ARG T`: T is unset again
    stage_names_fold_case: bool = False  # `FROM Build` names stage `build`
    first_duplicate_target: bool = False  # --target picks the first stage of that name
    prunes_unreachable: bool = True  # only stages the target needs are built
    unknown_from_is_image: bool = False  # COPY --from=<not an earlier stage> is an image

    @property
    def is_classic(self) -> bool:
        return self.family is Family.CLASSIC


CURRENT = Rules(Family.BUILDKIT, "buildkit")
BUILDKIT_0_8 = Rules(
    Family.BUILDKIT, "buildkit-0.8", check_directive=False, legacy_syntax_scan=True,
    heredocs=False, extended_modifiers=False, meta_arg_errors_blank=True, targetstage=False,
    bare_global_args_empty=True, copy_from_later_stage=True, uppercase_domain=False,
    directive_unicode_space=False, trim_all_cr=False, normalized_platforms=True)
CLASSIC = replace(
    BUILDKIT_0_8, family=Family.CLASSIC, label="classic", meta_arg_errors_blank=False,
    builtin_platform_args=False, bare_global_args_empty=False, proxy_args=True,
    arg_line_at_once=True, arg_keys_expanded=True, bare_global_args_unset=True,
    stage_names_fold_case=True, first_duplicate_target=True,
    prunes_unreachable=False, unknown_from_is_image=True, copy_from_later_stage=False)
# The rules measured for BuildKit 0.8 whose first changed version is not documented: a
# frontend between 1.2 and the current one is read both ways.
_UNDATED = ("legacy_syntax_scan", "meta_arg_errors_blank", "targetstage",
            "bare_global_args_empty", "copy_from_later_stage", "uppercase_domain",
            "directive_unicode_space", "trim_all_cr", "normalized_platforms")


def buildkit_rules(frontend: tuple[int, int] | None) -> tuple[Rules, ...]:
    """The rule sets of a dockerfile frontend of that version (None: not known)."""
    if frontend is None:
        return (BUILDKIT_0_8, CURRENT)
    if frontend <= LEGACY_FRONTEND:
        return (BUILDKIT_0_8,)
    if frontend >= CURRENT_FRONTEND:
        return (CURRENT,)
    label = f"dockerfile-{frontend[0]}.{frontend[1]}"
    heredocs = frontend >= HEREDOCS_SINCE
    check = frontend >= CHECK_DIRECTIVE_SINCE
    modifiers = frontend >= MODIFIERS_SINCE
    old = replace(BUILDKIT_0_8, label=f"{label} (0.8 rules)", heredocs=heredocs,
                  check_directive=check, extended_modifiers=modifiers)
    new = replace(CURRENT, label=f"{label} (current rules)", heredocs=heredocs,
                  check_directive=check, extended_modifiers=modifiers)
    assert all(getattr(old, f) != getattr(new, f) for f in _UNDATED)
    return (old, new)


class Kind(enum.Enum):
    CLASSIC = "classic"  # dockerd's classic builder
    DAEMON_BUILDKIT = "buildkit"  # the BuildKit built into dockerd (DOCKER_BUILDKIT=1)
    BUILDX = "buildx"  # a buildx builder
    RULES = "rules"  # chosen by name (--builder-rules), no docker asked


@dataclass(frozen=True, slots=True)
class Reader:
    """The frontend that reads a Dockerfile before any ``# syntax=`` line is looked at.

    *version* is the docker daemon's (classic, built-in BuildKit) or BuildKit's (buildx,
    rules) version as text, or None when it is not known."""

    kind: Kind
    version: str | None = None

    def __str__(self) -> str:
        if self.kind is Kind.CLASSIC:
            return f"classic builder (docker {self.version or 'version unknown'})"
        if self.kind is Kind.DAEMON_BUILDKIT:
            bk = self.buildkit_minor()
            inner = f"BuildKit 0.{bk}" if bk is not None else "BuildKit, version unknown"
            return f"{inner} built into docker {self.version or '(version unknown)'}"
        if self.kind is Kind.BUILDX:
            return f"buildx builder (BuildKit {self.version or 'version unknown'})"
        if self.version == "buildkit":
            return "current BuildKit's rules"
        if self.version == "classic":
            return "the classic builder's rules (docker 20.10)"
        minor = self.buildkit_minor()
        return f"BuildKit 0.{minor}'s rules" if minor is not None else (
            "every BuildKit's rules (reader unknown)")

    def buildkit_minor(self) -> int | None:
        """BuildKit's minor version (0.N) for the BuildKit readers."""
        if self.version is None:
            return None
        if self.kind is Kind.DAEMON_BUILDKIT:
            major_minor = _major_minor(self.version)
            return _BUILDKIT_OF_DOCKERD.get(major_minor) if major_minor else None
        if self.kind in (Kind.BUILDX, Kind.RULES):
            match = re.match(r"v?0\.(\d+)", self.version)
            return int(match.group(1)) if match else None
        return None

    @property
    def family(self) -> Family:
        return Family.CLASSIC if self.kind is Kind.CLASSIC or (
            self.kind is Kind.RULES and self.version == "classic") else Family.BUILDKIT

    def rule_sets(self) -> tuple[Rules, ...]:
        """The rules this reader reads the file by (more than one: not known exactly)."""
        if self.family is Family.CLASSIC:
            major_minor = _major_minor(self.version or "")
            if self.kind is Kind.RULES or (major_minor is not None and major_minor <= (20, 10)):
                return (CLASSIC,)
            # A newer daemon's classic builder parses with a newer BuildKit parser.
            newer = replace(CLASSIC, label="classic (newer parser)", heredocs=True,
                            check_directive=True, legacy_syntax_scan=False,
                            extended_modifiers=True)
            return (CLASSIC, newer)
        if self.kind is Kind.RULES and self.version == "buildkit":
            return (CURRENT,)
        minor = self.buildkit_minor()
        if minor is None:
            return buildkit_rules(None)
        if minor > max(_FRONTEND_OF_BUILDKIT):
            return (CURRENT,)
        return buildkit_rules(_FRONTEND_OF_BUILDKIT.get(minor, LEGACY_FRONTEND))

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind.value, "version": self.version, "description": str(self),
                "rules": [r.label for r in self.rule_sets()]}


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


BUILDER_RULES = {
    # --builder-rules NAME: a reader chosen without asking docker
    "buildkit": Reader(Kind.RULES, "buildkit"),
    "buildkit-0.8": Reader(Kind.RULES, "v0.8"),
    "classic": Reader(Kind.RULES, "classic"),
    "docker-20.10": Reader(Kind.DAEMON_BUILDKIT, "20.10"),
    "unknown": Reader(Kind.RULES, "unknown"),
}


def reader_named(name: str) -> Reader:
    """``--builder-rules NAME``: ``buildkit`` (current), ``buildkit-0.N``, ``classic``,
    ``unknown`` (every BuildKit trustbuild models)."""
    if name in BUILDER_RULES:
        return BUILDER_RULES[name]
    match = re.fullmatch(r"buildkit-(0\.\d+)", name)
    if match:
        return Reader(Kind.RULES, "v" + match.group(1))
    raise ValueError(f"unknown builder rules {name!r}: use one of "
                     f"{', '.join(BUILDER_RULES)} or buildkit-0.N")


@dataclass(frozen=True, slots=True)
class ReaderChoice:
    """The reader chosen for a command, and why (for ``-v`` logging and for output).
    *docker_buildkit*: the ``DOCKER_BUILDKIT`` docker must be given so that it builds with
    this reader, where its own default might differ (None: leave the environment alone)."""

    reader: Reader
    reason: str
    docker_buildkit: str | None = None

    def to_json(self) -> dict[str, object]:
        return {**self.reader.to_json(), "reason": self.reason}


def frontend_rules(image_name: str, tag: str | None, digest_only: bool) -> tuple[Rules, ...]:
    """The rules of the frontend a ``# syntax=`` line names: the official
    ``docker/dockerfile`` images by their tag (``1.N``, ``1``, ``latest``); any other image,
    or a tag that does not say the version, could read the file any way BuildKit does."""
    if image_name not in _OFFICIAL_FRONTENDS or digest_only or tag is None:
        return buildkit_rules(None)
    if tag in ("latest", "master", "labs", "1", "1-labs"):
        return (CURRENT,)
    match = _FRONTEND_TAG.match(tag)
    if match is None:
        return buildkit_rules(None)
    major = int(match.group(1))
    if match.group(2) is None:
        return (CURRENT,) if major >= 1 else buildkit_rules(None)
    return buildkit_rules((major, int(match.group(2))))
