"""``trustbuild scan``: every Dockerfile under some paths, checked as ``check`` would check
each, with every distinct image resolved once for the whole run.

Finding the files follows git's ignore rules, read by ``pathspec`` (a maintained
implementation of gitignore's wildmatch patterns: negation, anchoring, directory-only
patterns and ``**``, which ``fnmatch`` does not have): each directory's ``.gitignore``
applies below it, a deeper file's patterns win over a shallower one's, the last matching
pattern of a file wins, ``.git/info/exclude`` applies under the repository's root, and the
contents of an ignored directory are never looked at (git cannot re-include them either).
``--exclude`` patterns use the same syntax, relative to each path scanned, and always win.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from trustbuild._internal.dockerfile import BuildOptions, analyse
from trustbuild._internal.dockerfile.pulls import Analysis
from trustbuild._internal.dockerfile.readers import ReaderChoice
from trustbuild._internal.files import MAX_SMALL_FILE, read_bounded
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.plan import (
    BuildRequest,
    CheckReport,
    Dockerfile,
    OnbuildSource,
    complete_onbuild,
    options_for,
    read_dockerfile,
    report_for,
    resolve_rest,
)
from trustbuild.errors import DockerfileError, ExitCode, TrustbuildError, UsageError

log = logging.getLogger(__name__)

NAMES = ("dockerfile", "containerfile")  # compared case-insensitively
_IGNORE_FILES = (".dockerignore", ".containerignore")


def is_dockerfile(name: str) -> bool:
    """``Dockerfile``, ``Containerfile``, ``Dockerfile.*``, ``*.Dockerfile`` and the same for
    ``Containerfile``, in any case (``dockerfile``, ``app.dockerfile``), but not an ignore
    file (``Dockerfile.dockerignore``).  The pre-commit hook's ``files`` pattern is the same
    rule; a test holds them together."""
    folded = name.casefold()
    if folded in NAMES:
        return True
    if folded.endswith(_IGNORE_FILES):
        return False
    return any((folded.startswith(base + ".") and len(folded) > len(base) + 1)
               or (folded.endswith("." + base) and len(folded) > len(base) + 1)
               for base in NAMES)


# -- finding the files -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Rules:
    """The ignore patterns of one directory; paths are absolute, with forward slashes."""

    base: str  # the directory, ending in "/"
    spec: pathspec.GitIgnoreSpec

    def decides(self, path: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a negation; None: no pattern matches."""
        if not path.startswith(self.base):
            return None
        relative = path[len(self.base):]
        return self.spec.check_file(relative + "/" if is_dir else relative).include


def _rules(base: Path, lines: Sequence[str], *, excluding: bool = False) -> _Rules | None:
    """The patterns of *lines*, relative to *base*.  A line that is not a valid pattern is
    skipped, as git skips it in a ``.gitignore`` (so it hides nothing); among the user's
    ``--exclude`` patterns (*excluding*) it is a usage error."""
    valid = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, TypeError, re.error) as exc:  # what pathspec raises for them
            if excluding:
                raise UsageError(f"scan: --exclude {line!r} is not a valid pattern: "
                                 f"{exc}") from exc
            log.info("scan: ignoring the invalid pattern %r", line)
            continue
        valid.append(line)
    spec = pathspec.GitIgnoreSpec.from_lines(valid)
    if not spec.patterns:
        return None
    return _Rules(base.as_posix().rstrip("/") + "/", spec)


def _read_rules(base: Path, file: Path) -> _Rules | None:
    try:
        if not file.is_file():
            return None
    except OSError:  # cannot even look: the directory listing below reports it
        return None
    try:
        data = read_bounded(file, limit=MAX_SMALL_FILE, within=base, error=UsageError,
                            what="the ignore file")
    except UsageError as exc:
        # An ignore file that cannot be read hides nothing: every file is scanned.
        log.warning("%s", exc)
        return None
    return _rules(base, data.decode("utf-8", "replace").splitlines())


def _repository_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def find_dockerfiles(paths: Sequence[str], excludes: Sequence[str] = ()) -> list[Path]:
    """The Dockerfiles under *paths* (a path that is a file is taken as it is), sorted,
    each once."""
    found: dict[Path, None] = {}
    for text in paths:
        root = Path(text)
        if root.is_file():
            found[root] = None
            continue
        if not root.is_dir():
            raise UsageError(f"scan: {text}: no such file or directory")
        exclude = _rules(root.absolute(), excludes, excluding=True)
        for path in _walk(root, exclude):
            found[path] = None
    return sorted(found, key=lambda p: p.as_posix())


@dataclass(frozen=True, slots=True)
class _Tracked:
    """What git tracks: a `.gitignore` (which a change may edit) never hides a tracked file,
    nor the directories above one.  None of it when git cannot tell: then `.gitignore` hides
    nothing at all (more is scanned, never less)."""

    files: frozenset[str]
    directories: frozenset[str]

    @classmethod
    def of(cls, repository: Path) -> _Tracked | None:
        import subprocess

        try:
            listed = subprocess.run(["git", "-C", str(repository), "ls-files", "-z",
                                     "--recurse-submodules"],
                                    capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if listed.returncode != 0:
            return None
        root = repository.absolute().as_posix()
        files = {f"{root}/{name}" for name in
                 listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name}
        directories = {parent for name in files
                       for parent in _parents(name, root)}
        return cls(frozenset(files), frozenset(directories))


def _parents(path: str, root: str) -> Iterator[str]:
    while True:
        path = path.rpartition("/")[0]
        if len(path) <= len(root):
            return
        yield path


def _walk(root: Path, exclude: _Rules | None) -> Iterator[Path]:
    absolute = root.absolute()
    repository = _repository_root(absolute)
    if repository is None:
        # Without git nothing says which files a change added, so .gitignore (which the
        # change may have written) hides nothing: more is scanned, never less.
        log.info("scan: %s is not in a git repository: .gitignore hides nothing", root)
        yield from _walk_dir(root, absolute.as_posix(), [], exclude, None)
        return
    tracked = _Tracked.of(repository)
    if tracked is None:
        log.warning("scan: git cannot list what %s tracks: .gitignore hides nothing",
                    repository)
        yield from _walk_dir(root, absolute.as_posix(), [], exclude, None)
        return
    inherited: list[_Rules] = []  # shallowest first
    info = _read_rules(repository, repository / ".git" / "info" / "exclude")
    if info is not None:
        inherited.append(info)
    for directory in reversed([absolute, *absolute.parents]):
        if directory == absolute or not directory.is_relative_to(repository):
            continue
        rules = _read_rules(directory, directory / ".gitignore")
        if rules is not None:
            inherited.append(rules)
    yield from _walk_dir(root, absolute.as_posix(), inherited, exclude, tracked)


def _walk_dir(directory: Path, absolute: str, inherited: list[_Rules],
              exclude: _Rules | None, tracked: _Tracked | None) -> Iterator[Path]:
    """*tracked* None: no ignore file is read (only ``--exclude`` skips anything)."""
    rules = (_read_rules(Path(absolute), Path(absolute, ".gitignore"))
             if tracked is not None else None)
    active = [*inherited, rules] if rules is not None else inherited
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        # A directory that cannot be listed may hold Dockerfiles: the scan cannot vouch
        # for the tree, so it stops rather than pass without them.
        raise UsageError(f"scan: cannot list {directory}: {exc.strerror or exc}; a "
                         "directory that cannot be read may hide Dockerfiles (give "
                         "--exclude to leave it out on purpose)") from exc
    for entry in entries:
        is_dir = entry.is_dir(follow_symlinks=False)
        if not is_dir and not is_dockerfile(entry.name):
            continue
        path = f"{absolute}/{entry.name}"
        if entry.name == ".git":
            continue
        if exclude is not None and exclude.decides(path, is_dir):
            log.info("scan: %s skipped (--exclude)", path)
            continue
        kept = (tracked.directories if is_dir else tracked.files) if tracked else frozenset()
        if path not in kept and _ignored(path, is_dir, active):
            log.info("scan: %s skipped (.gitignore, not tracked by git)", path)
            continue
        if is_dir:
            yield from _walk_dir(directory / entry.name, path, active, exclude, tracked)
        else:  # a file, or whatever else carries the name: reading it decides
            yield directory / entry.name


def _ignored(path: str, is_dir: bool, rules: list[_Rules]) -> bool:
    for level in reversed(rules):  # the deepest .gitignore that says something decides
        decision = level.decides(path, is_dir)
        if decision is not None:
            return decision
    return False


# -- checking them ---------------------------------------------------------------------------

@dataclass(slots=True)
class ScannedFile:
    """One Dockerfile: its check, or the error that stopped it being read."""

    dockerfile: str
    report: CheckReport | None = None
    error: TrustbuildError | None = None

    @property
    def exit_code(self) -> int:
        if self.report is not None:
            return int(self.report.exit_code)
        return int(self.error.exit_code) if self.error is not None else int(ExitCode.EXECUTION)

    @property
    def ok(self) -> bool:
        """Read, and every image trusted or allowed by a policy exception (check's ``ok``)."""
        return self.report is not None and self.report.ok

    @property
    def passes(self) -> bool:
        """The gate's answer for this file: ok, or the policy only warns (check's
        ``passes``)."""
        return self.exit_code == ExitCode.OK


@dataclass(slots=True)
class ScanReport:
    """Every Dockerfile found, each checked; ``images``: the distinct references resolved."""

    paths: list[str]
    reader: ReaderChoice
    files: list[ScannedFile]
    images: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The worst of the files' exit codes (a file without a verdict fails)."""
        return max((f.exit_code for f in self.files), default=int(ExitCode.OK))

    @property
    def ok(self) -> bool:
        """Every file ``ok``: read, and each image trusted or allowed."""
        return all(f.ok for f in self.files)

    @property
    def passes(self) -> bool:
        """The gate's answer: every file passes (ok, or its policy only warns)."""
        return self.exit_code == ExitCode.OK


@dataclass(slots=True)
class _Pending:
    scanned: ScannedFile
    source: Dockerfile
    analysis: Analysis
    options: BuildOptions
    client: TrustClient


def scan_files(files: Sequence[Path], *, reader: ReaderChoice, build_args: Mapping[str, str],
               client_for: Callable[[Path], TrustClient], paths: Sequence[str] = (),
               onbuild_for: Callable[[TrustClient], OnbuildSource] | None = None,
               platforms: Sequence[str] = ()) -> ScanReport:
    """Check each Dockerfile in *files* with *build_args* (all of them: docker's proxy args
    included) and *platforms* (its directory is its build context, whose
    ``.trustbuild.toml`` applies).  The references of all files that share a client are
    resolved in one ``resolve_many``, each once; base images' ONBUILD triggers are read as
    ``check`` reads them, with the reader *onbuild_for* gives for the client (one per
    client, so each image is read once; without it none can be read)."""
    results: list[ScannedFile] = []
    pending: list[_Pending] = []
    for path in files:
        scanned = ScannedFile(_display(path))
        results.append(scanned)
        try:
            read = read_dockerfile(str(path.parent), str(path))
            source = Dockerfile(read.text, Path(scanned.dockerfile), read.name)
            client = client_for(path.parent)
            options = options_for(BuildRequest(str(path.parent), str(path), build_args,
                                               platforms=tuple(platforms)),
                                  reader, client.policy)
            analysis = analyse(source.text, options, path=scanned.dockerfile)
        except TrustbuildError as exc:  # this file's problem; the others are still checked
            scanned.error = exc
            continue
        pending.append(_Pending(scanned, source, analysis, options, client))
    by_client: dict[int, list[_Pending]] = {}
    for item in pending:
        by_client.setdefault(id(item.client), []).append(item)
    distinct = 0
    for group in by_client.values():
        references = list(dict.fromkeys(str(p.reference) for item in group
                                        for p in item.analysis.pulls))
        distinct += len(references)
        log.info("scan: resolving %d distinct images for %d Dockerfiles", len(references),
                 len(group))
        client = group[0].client
        answers = dict(client.resolve_many(references))
        onbuild = onbuild_for(client) if onbuild_for is not None else None
        for item in group:
            try:
                outcome = complete_onbuild(item.source, item.analysis, item.options, answers,
                                           client.resolve_many, onbuild, client.policy)
            except DockerfileError as exc:
                item.scanned.error = exc
                continue
            item.scanned.report = report_for(item.source, outcome.analysis, reader,
                                             resolve_rest(outcome, answers,
                                                          client.resolve_many),
                                             client.policy, outcome)
    return ScanReport(list(paths), reader, results, distinct)


def _display(path: Path) -> str:
    """Relative to the current directory when below it, as CI annotations want."""
    absolute = path.absolute()
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()
