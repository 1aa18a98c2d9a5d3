"""docker build's command line, read the way docker's flag parser (pflag) reads it.

Which flags take a value decides which word is the build context, so the table below lists
every value-taking flag of ``docker build`` (classic and BuildKit) and ``docker buildx build``.
trustbuild interprets ``-f/--file``, ``--build-arg``, ``--target``, ``--platform``, ``-t``,
``-q`` and ``--build-context``, and passes every other word to docker untouched and in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trustbuild.errors import UsageError

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
class Flag:
    name: str  # long name
    value: str | None
    start: int  # index of the first word of this flag in argv
    stop: int  # one past its last word


@dataclass(slots=True)
class BuildCommand:
    argv: list[str]
    flags: list[Flag] = field(default_factory=list)
    context: str | None = None
    context_index: int | None = None

    def values(self, name: str) -> list[str]:
        return [f.value for f in self.flags if f.name == name and f.value is not None]

    def last(self, name: str) -> str | None:
        found = self.values(name)
        return found[-1] if found else None

    def has(self, name: str) -> bool:
        return any(f.name == name and _truthy(f.value) for f in self.flags)

    @property
    def file(self) -> str | None:
        return self.last("file")

    @property
    def quiet(self) -> bool:
        return self.has("quiet")

    def rewritten(self, file: str, build_args: dict[str, str] | None = None) -> list[str]:
        """The same command line with every ``-f`` replaced by ``--file <file>`` and the given
        build args set (replacing the user's values for those keys); nothing else moves."""
        build_args = build_args or {}

        def dropped(flag: Flag) -> bool:
            if flag.name == "file":
                return True
            return flag.name == "build-arg" and (flag.value or "").partition("=")[0] \
                in build_args

        drop = {i for f in self.flags if dropped(f) for i in range(f.start, f.stop)}
        kept = [w for i, w in enumerate(self.argv) if i not in drop]
        added = ["--file", file]
        for key, value in build_args.items():
            added += ["--build-arg", f"{key}={value}"]
        return [*added, *kept]


def _truthy(value: str | None) -> bool:
    return value is None or value.lower() not in ("false", "0", "f")


def parse(argv: list[str]) -> BuildCommand:
    """Split *argv* (the words after ``docker build``) like pflag, and find the context."""
    cmd = BuildCommand(list(argv))
    positional: list[tuple[int, str]] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            positional.extend((j, argv[j]) for j in range(i + 1, len(argv)))
            break
        if word.startswith("--") and len(word) > 2:
            i = _long(argv, i, cmd)
        elif word.startswith("-") and len(word) > 1:
            i = _short(argv, i, cmd)
        else:
            positional.append((i, word))
            i += 1
    if len(positional) != 1:
        raise UsageError(f'"docker build" requires exactly 1 argument (the build context), '
                         f"got {len(positional)}: {[w for _, w in positional]}")
    cmd.context_index, cmd.context = positional[0]
    return cmd


def _long(argv: list[str], i: int, cmd: BuildCommand) -> int:
    name, eq, value = argv[i][2:].partition("=")
    if name in VALUE_FLAGS:
        if eq:
            cmd.flags.append(Flag(name, value, i, i + 1))
            return i + 1
        if i + 1 >= len(argv):
            raise UsageError(f"flag needs an argument: --{name}")
        cmd.flags.append(Flag(name, argv[i + 1], i, i + 2))
        return i + 2
    if name in BOOL_FLAGS:
        if eq and value.lower() not in ("true", "false", "1", "0", "t", "f"):
            raise UsageError(f'invalid argument "{value}" for "--{name}" flag')
        cmd.flags.append(Flag(name, value if eq else None, i, i + 1))
        return i + 1
    raise UsageError(f"unknown flag: --{name}")


def _short(argv: list[str], i: int, cmd: BuildCommand) -> int:
    word = argv[i][1:]
    pos = 0
    while pos < len(word):
        letter = word[pos]
        if letter in SHORT_BOOL:
            rest = word[pos + 1:]
            if rest.startswith("="):
                cmd.flags.append(Flag(SHORT_BOOL[letter], rest[1:], i, i + 1))
                return i + 1
            cmd.flags.append(Flag(SHORT_BOOL[letter], None, i, i + 1))
            pos += 1
            continue
        if letter in SHORT_VALUE:
            rest = word[pos + 1:]
            if rest:
                value = rest[1:] if rest.startswith("=") else rest
                cmd.flags.append(Flag(SHORT_VALUE[letter], value, i, i + 1))
                return i + 1
            if i + 1 >= len(argv):
                raise UsageError(f"flag needs an argument: '{letter}' in -{letter}")
            cmd.flags.append(Flag(SHORT_VALUE[letter], argv[i + 1], i, i + 2))
            return i + 2
        raise UsageError(f"unknown shorthand flag: '{letter}' in -{word}")
    return i + 1


def is_remote_context(context: str) -> bool:
    return context.startswith(REMOTE_PREFIXES) or (
        context.endswith(".git") and "://" in context)
