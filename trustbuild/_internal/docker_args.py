"""docker build's command line, read the way docker's flag parser (pflag) reads it.

Which flags take a value decides which word is the build context, so the table below lists
every value-taking flag of ``docker build`` (classic and BuildKit) and ``docker buildx build``.
A command adds its own flags (:class:`OwnFlag`: ``--format``, ``--config``, ``-v`` …) to the
same table, so a word is read once, the way docker reads it: in ``--label --offline .`` the
label is ``--offline``.  trustbuild interprets ``-f/--file``, ``--build-arg``, ``--target``,
``--platform``, ``-t``, ``-q`` and ``--build-context``, and passes every other docker word to
docker untouched and in order; its own flags are never passed on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trustbuild._internal.dockerfile.platforms import parse_platform
from trustbuild.errors import DockerfileError, UsageError

# Long flags that take a value (docker build, BuildKit's extra flags, docker buildx build).
VALUE_FLAGS = frozenset({
    "add-host", "allow", "annotation", "attest", "build-arg", "build-context", "builder",
    "cache-from", "cache-to", "call", "cgroup-parent", "cpu-period", "cpu-quota",
    "cpu-shares", "cpuset-cpus", "cpuset-mems", "file", "iidfile", "isolation", "label",
    "memory", "memory-swap", "metadata-file", "network", "no-cache-filter", "output",
    "platform", "policy", "progress", "provenance", "sbom", "secret", "security-opt",
    "shm-size", "ssh", "tag", "target", "ulimit",
})
BOOL_FLAGS = frozenset({
    "check", "compress", "debug", "detach", "disable-content-trust", "force-rm", "load",
    "no-cache", "pull", "push", "quiet", "rm", "squash", "stream",
})
SHORT_VALUE = {"f": "file", "t": "tag", "c": "cpu-shares", "m": "memory", "o": "output"}
SHORT_BOOL = {"q": "quiet", "D": "debug"}
REMOTE_PREFIXES = ("http://", "https://", "git://", "git@", "github.com/", "ssh://")



@dataclass(frozen=True, slots=True)
class OwnFlag:
    """One of trustbuild's own flags, read by the same parser as docker's flags."""

    name: str  # the long name, without dashes
    takes_value: bool
    help: str
    short: str | None = None
    metavar: str = ""
    choices: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        names = (f"-{self.short}, " if self.short else "") + f"--{self.name}"
        return f"{names} {self.metavar}" if self.takes_value else names


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # long name
    value: str | None
    start: int  # index of the first word of this flag in argv
    stop: int  # one past its last word
    own: bool = False  # one of trustbuild's flags, not docker's


@dataclass(slots=True)
class BuildCommand:
    argv: list[str]
    flags: list[Flag] = field(default_factory=list)
    context: str | None = None
    context_index: int | None = None

    def values(self, name: str) -> list[str]:
        """The values docker would see for its flag *name* (trustbuild's own flags aside)."""
        return [f.value for f in self.flags
                if f.name == name and f.value is not None and not f.own]

    def own_values(self, name: str) -> list[str]:
        return [f.value for f in self.flags if f.own and f.name == name and f.value is not None]

    def own_value(self, name: str) -> str | None:
        found = self.own_values(name)
        return found[-1] if found else None

    def own_count(self, name: str) -> int:
        """How many times trustbuild's boolean flag *name* was given true (``-vv``: 2)."""
        return sum(1 for f in self.flags if f.own and f.name == name and _truthy(f.value))

    def last(self, name: str) -> str | None:
        found = self.values(name)
        return found[-1] if found else None

    def has(self, name: str) -> bool:
        return any(f.name == name and not f.own and _truthy(f.value) for f in self.flags)

    def has_own(self, name: str) -> bool:
        """The last word for trustbuild's boolean flag *name* (``--offline=false`` unsets)."""
        given = [f for f in self.flags if f.own and f.name == name]
        return bool(given) and _truthy(given[-1].value)

    @property
    def file(self) -> str | None:
        return self.last("file")

    @property
    def quiet(self) -> bool:
        return self.has("quiet")

    def rewritten(self, file: str, build_args: dict[str, str] | None = None) -> list[str]:
        """The docker command line: ``--file <file>``, the given build args (replacing the
        user's values for those keys), then docker's other flags in their order, each
        written out in its long ``--name=value`` form, and the context.  Each flag is
        written from what the parser read, never from the words it came in: a word that
        held one of trustbuild's flags and a docker flag (``-vt NAME``) cannot leave a word
        behind that docker would read as something else."""
        build_args = build_args or {}

        def kept(flag: Flag) -> bool:
            if flag.own or flag.name == "file":
                return False
            return not (flag.name == "build-arg"
                        and (flag.value or "").partition("=")[0] in build_args)

        words = ["--file", file]
        for key, value in build_args.items():
            words += ["--build-arg", f"{key}={value}"]
        words += [f"--{f.name}" if f.value is None else f"--{f.name}={f.value}"
                  for f in self.flags if kept(f)]
        context = self.context or "."
        return [*words, *(["--"] if context.startswith("-") else []), context]


def _truthy(value: str | None) -> bool:
    return value is None or value.lower() not in ("false", "0", "f")


class _Table:
    """docker build's flags plus a command's own; an own flag shadows docker's of that name."""

    def __init__(self, own: Sequence[OwnFlag]) -> None:
        self.own_long = {f.name: f for f in own}
        self.own_short = {f.short: f for f in own if f.short}

    def long(self, name: str) -> tuple[bool, bool] | None:
        """(takes a value, is own) for ``--name``; None: docker does not know it."""
        if name in self.own_long:
            return self.own_long[name].takes_value, True
        if name in VALUE_FLAGS:
            return True, False
        if name in BOOL_FLAGS:
            return False, False
        return None

    def short(self, letter: str) -> tuple[str, bool, bool] | None:
        """(long name, takes a value, is own) for ``-x``."""
        if letter in self.own_short:
            flag = self.own_short[letter]
            return flag.name, flag.takes_value, True
        if letter in SHORT_VALUE:
            return SHORT_VALUE[letter], True, False
        if letter in SHORT_BOOL:
            return SHORT_BOOL[letter], False, False
        return None


def parse(argv: Sequence[str], own: Sequence[OwnFlag] = (), *,
          context_optional: bool = False) -> BuildCommand:
    """Split *argv* (the words after ``docker build``) like pflag, and find the context.
    With *context_optional*, no positional word means the context ``.``."""
    cmd = BuildCommand(list(argv))
    table = _Table(own)
    positional: list[tuple[int, str]] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            positional.extend((j, argv[j]) for j in range(i + 1, len(argv)))
            break
        if word.startswith("--") and len(word) > 2:
            i = _long(cmd.argv, i, cmd, table)
        elif word.startswith("-") and len(word) > 1:
            i = _short(cmd.argv, i, cmd, table)
        else:
            positional.append((i, word))
            i += 1
    if not positional and context_optional:
        cmd.context = "."
        return cmd
    if len(positional) != 1:
        raise UsageError(f'"docker build" requires exactly 1 argument (the build context), '
                         f"got {len(positional)}: {[w for _, w in positional]}")
    cmd.context_index, cmd.context = positional[0]
    for flag in cmd.flags:
        spec = table.own_long.get(flag.name) if flag.own else None
        if spec is not None and spec.choices and flag.value not in spec.choices:
            raise UsageError(f"--{flag.name} must be one of {', '.join(spec.choices)}, "
                             f"not {flag.value!r}")
    return cmd


_BOOL_WORDS = ("true", "false", "1", "0", "t", "f")


def _long(argv: list[str], i: int, cmd: BuildCommand, table: _Table) -> int:
    name, eq, value = argv[i][2:].partition("=")
    known = table.long(name)
    if known is None:
        raise UsageError(f"unknown flag: --{name}")
    takes_value, own = known
    if takes_value:
        if eq:
            cmd.flags.append(Flag(name, value, i, i + 1, own))
            return i + 1
        if i + 1 >= len(argv):
            raise UsageError(f"flag needs an argument: --{name}")
        cmd.flags.append(Flag(name, argv[i + 1], i, i + 2, own))
        return i + 2
    if eq and value.lower() not in _BOOL_WORDS:
        raise UsageError(f'invalid argument "{value}" for "--{name}" flag')
    cmd.flags.append(Flag(name, value if eq else None, i, i + 1, own))
    return i + 1


def _short(argv: list[str], i: int, cmd: BuildCommand, table: _Table) -> int:
    word = argv[i][1:]
    pos = 0
    while pos < len(word):
        letter = word[pos]
        known = table.short(letter)
        if known is None:
            raise UsageError(f"unknown shorthand flag: '{letter}' in -{word}")
        name, takes_value, own = known
        rest = word[pos + 1:]
        if not takes_value:
            if rest.startswith("="):
                cmd.flags.append(Flag(name, rest[1:], i, i + 1, own))
                return i + 1
            cmd.flags.append(Flag(name, None, i, i + 1, own))
            pos += 1
            continue
        if rest:
            value = rest[1:] if rest.startswith("=") else rest
            cmd.flags.append(Flag(name, value, i, i + 1, own))
            return i + 1
        if i + 1 >= len(argv):
            raise UsageError(f"flag needs an argument: '{letter}' in -{letter}")
        cmd.flags.append(Flag(name, argv[i + 1], i, i + 2, own))
        return i + 2
    return i + 1


def build_args_from(pairs: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """``--build-arg K=V``; a bare ``K`` takes the environment's value, when set."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {pair!r}: expected KEY=VALUE")
        if eq:
            args[key] = value
        elif key in env:
            args[key] = env[key]
        else:  # docker keeps the last word for a key: a bare one unset in the environment
            args.pop(key, None)  # gives it no value, so the ARG's default applies
    return args


def platforms_from(values: Sequence[str]) -> list[str]:
    """``--platform a,b`` (repeatable) as a list."""
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def platforms_or_default(given: Sequence[str], env: Mapping[str, str] | None
                         ) -> tuple[str, ...]:
    """The platforms of the ``--platform`` values *given* (``--platform=""`` is given, and
    means the native platform); when none is given, docker's default for the flag:
    ``DOCKER_DEFAULT_PLATFORM``, which the docker CLI reads."""
    if given:
        return _valid_platforms(platforms_from(given), "--platform")
    env = os.environ if env is None else env
    return _valid_platforms(platforms_from([env.get("DOCKER_DEFAULT_PLATFORM", "")]),
                            "DOCKER_DEFAULT_PLATFORM")


def _valid_platforms(platforms: Sequence[str], where: str) -> tuple[str, ...]:
    for platform in platforms:
        try:
            parse_platform(platform)
        except DockerfileError as exc:
            raise UsageError(f"{where}: {exc.message}") from None
    return tuple(platforms)


def refuse_unsupported(cmd: BuildCommand) -> None:
    """Command lines trustbuild cannot check before the build: refused with the reason."""
    given = [f for f in cmd.flags if f.name == "disable-content-trust" and not f.own]
    if given:
        # In any form: =false turns docker's own content trust back on for the classic
        # builder, which would resolve the pinned tags again by its own rules.
        raise UsageError("--disable-content-trust is refused in any form: trustbuild alone "
                         "decides trust (=true builds on unsigned images, =false hands the "
                         "pinned tags back to docker's own trust rules); use docker build "
                         "for an unchecked build")
    context = cmd.context or "."
    if context == "-":
        raise UsageError("a build context on standard input cannot be checked: give a "
                         "local directory as PATH (the Dockerfile may come from stdin "
                         "with -f -)")
    if is_remote_context(context):
        raise UsageError(f"remote build contexts ({context}) cannot be checked before the "
                         "build: clone or download it and build the local copy")
    if cmd.values("build-context"):
        raise UsageError("--build-context is not supported: a named context can replace "
                         "the images trustbuild verifies")


def is_remote_context(context: str) -> bool:
    return context.startswith(REMOTE_PREFIXES) or (
        context.endswith(".git") and "://" in context)
