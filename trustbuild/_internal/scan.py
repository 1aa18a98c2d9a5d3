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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from trustbuild._internal.dockerconfig import with_proxy_build_args
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

NAMES = ("Dockerfile", "Containerfile")


def is_dockerfile(name: str) -> bool:
    """``Dockerfile``, ``Containerfile``, ``*.Dockerfile``, ``Dockerfile.*`` (not a
    ``Dockerfile.dockerignore``)."""
    if name in NAMES:
        return True
    if name.endswith(".dockerignore"):
        return False
    return (name.startswith("Dockerfile.") and len(name) > len("Dockerfile.")) or (
        name.endswith(".Dockerfile") and len(name) > len(".Dockerfile"))


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


def _rules(base: Path, lines: Sequence[str]) -> _Rules | None:
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    if not spec.patterns:
        return None
    return _Rules(base.as_posix().rstrip("/") + "/", spec)


def _read_rules(base: Path, file: Path) -> _Rules | None:
    if not file.exists():
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
        exclude = _rules(root.absolute(), excludes)
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
            listed = subprocess.run(["git", "-C", str(repository), "ls-files", "-z"],
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
    inherited: list[_Rules] = []  # shallowest first
    tracked: _Tracked | None = None
    if repository is not None:
        tracked = _Tracked.of(repository)
        if tracked is None:
            log.warning("scan: git cannot list what %s tracks: .gitignore hides nothing",
                        repository)
            yield from _walk_dir(root, absolute.as_posix(), [], exclude, None)
            return
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
    rules = _read_rules(Path(absolute), Path(absolute, ".gitignore"))
    active = [*inherited, rules] if rules is not None else inherited
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        log.warning("scan: cannot list %s: %s", directory, exc.strerror or exc)
        return
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
               onbuild_for: Callable[[TrustClient], OnbuildSource] | None = None
               ) -> ScanReport:
    """Check each Dockerfile in *files* (its directory is its build context, whose
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
            options = options_for(BuildRequest(str(path.parent), str(path),
                                               with_proxy_build_args(build_args)),
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
