"""Every format trustbuild writes, in one place, from typed results: text for people, JSON
for machines.  Commands choose a format and a stream; nothing else formats output."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trustbuild._internal import jsontext, messages
from trustbuild._internal.lockfile import LockChange, LockedReport, unused_error
from trustbuild._internal.plan import CheckReport, ImageVerdict, Status
from trustbuild._internal.policy import format_duration
from trustbuild.errors import DockerfileError, TrustbuildError, TrustError

if TYPE_CHECKING:
    from trustbuild._internal.dockerfile import ImagePull
    from trustbuild._internal.notary.inspection import RepositoryReport
    from trustbuild._internal.policy import EffectivePolicy, Sourced
    from trustbuild._internal.scan import ScanReport
    from trustbuild.api import InspectResult, LockResult, RefsReport

SCHEMA_VERSION = 1
INTERNAL_ERROR = 70  # a bug in trustbuild (EX_SOFTWARE): the exit code and the JSON say so


def to_json(document: Any) -> str:
    return jsontext.dumps(document)


# -- check, pin, build ---------------------------------------------------------------------

def verdict_line(verdict: ImageVerdict, mode: str = "enforce") -> str:
    """One line per image: ``reference -> digest (role)``, or where it is used and why it
    is not trusted."""
    pull = verdict.pull
    if verdict.trusted is not None:
        notes = "".join(f"; {n}" for n in verdict.trusted.notes)
        return f"{pull.reference} -> {verdict.trusted.digest} ({verdict.trusted.role}{notes})"
    return f"{_label(verdict, mode)}: {pull.reference} ({_where(pull)}): {_why(verdict)}"


def _label(verdict: ImageVerdict, mode: str) -> str:
    label = {Status.ALLOWED: "allowed unverified", Status.REFUSED: "refused"}.get(
        verdict.status, "not verified")
    if mode == "warn" and verdict.status is not Status.ALLOWED:
        label = f"WARNING (warn mode, not enforced): {label}"
    return label


def _where(pull: ImagePull) -> str:
    return f"{pull.instruction}, line {pull.line}" if pull.line else pull.instruction


def _why(verdict: ImageVerdict) -> str:
    if verdict.exception is not None or verdict.error is None:
        return verdict.message or ""
    return messages.why(verdict.error, verdict.pull.reference)


def _hint(verdict: ImageVerdict) -> str | None:
    if verdict.status is Status.ALLOWED or verdict.error is None:
        return None
    return messages.hint(verdict.error, verdict.pull.reference)


@dataclass(frozen=True, slots=True)
class ServerFailure:
    """One trust server that could not be asked, and the images that needed it."""

    server: str
    error: TrustError
    verdicts: tuple[ImageVerdict, ...]


def server_failures(report: CheckReport) -> list[ServerFailure]:
    """Images that failed because their trust server could not be asked, by server and
    cause: one message each, not one per image."""
    groups: dict[tuple[str, str], list[ImageVerdict]] = {}
    for verdict in report.verdicts:
        error = verdict.error
        if verdict.status is Status.ERROR and error is not None and error.server \
                and error.reason in messages.SERVER_REASONS:
            groups.setdefault((error.server, error.message), []).append(verdict)
    return [ServerFailure(server, group[0].error, tuple(group))  # type: ignore[arg-type]
            for (server, _), group in groups.items()]


def failure_lines(report: CheckReport, *, quiet: bool = False) -> list[str]:
    """Each image on a line (trusted ones unless *quiet*), a hint under each that is not
    trusted, and each unreachable trust server once with the images that needed it."""
    grouped = {id(v) for failure in server_failures(report) for v in failure.verdicts}
    lines: list[str] = []
    said: set[str] = set()
    for verdict in report.verdicts:
        if (quiet and verdict.status is Status.TRUSTED) or id(verdict) in grouped:
            continue
        line = verdict_line(verdict, report.mode)
        if line in said:
            continue
        said.add(line)
        lines.append(line)
        hint = _hint(verdict)
        if hint:
            lines.append(f"  hint: {hint}")
    for failure in server_failures(report):
        first = failure.verdicts[0]
        images = ", ".join(f"{v.pull.reference} ({_where(v.pull)})" for v in failure.verdicts)
        lines.append(f"{_label(first, report.mode)}: trust server {failure.server}: "
                     f"{failure.error.message}")
        lines.append(f"  images: {images}")
        hint = _hint(first)
        if hint:
            lines.append(f"  hint: {hint}")
    return lines


def verdict_lines(report: CheckReport, *, quiet: bool = False) -> Iterator[str]:
    """What ``build`` says on standard error before docker runs."""
    notice = lock_notice(report)
    if notice:
        yield f"trustbuild: {notice}"
    for line in failure_lines(report, quiet=quiet):
        yield f"trustbuild: {line}"


def check_summary(report: CheckReport) -> str:
    trusted = len(report.with_status(Status.TRUSTED))
    allowed = f", {len(report.allowed)} allowed by policy" if report.allowed else ""
    warn = "; warn mode: nothing enforced" if report.mode == "warn" else ""
    locked = ""
    if isinstance(report, LockedReport):
        locked = f", held to {report.lock_file}"
        if report.gate and report.unused:
            locked += f" ({len(report.unused)} locked images no longer pulled)"
    return (f"{report.dockerfile}: {trusted} of {len(report.verdicts)} images trusted"
            f"{allowed}{locked} (read as {report.reader.reader}{warn})")


def check_text(report: CheckReport, *, quiet: bool = False) -> str:
    lines = failure_lines(report, quiet=quiet)
    if isinstance(report, LockedReport):
        if report.gate:
            lines += [f"refused: {unused_error(e, report.lock_file)}" for e in report.unused]
        notice = lock_notice(report)
        if notice:
            lines.insert(0, notice)
    return "\n".join([*lines, check_summary(report)])


def lock_notice(report: CheckReport) -> str | None:
    """What a locked check says first when it did not ask any trust server."""
    if isinstance(report, LockedReport) and report.offline:
        return (f"offline: the digests in {report.lock_file} are confirmed against the local "
                "trust cache; no trust server was asked")
    return None


def check_json(report: CheckReport) -> dict[str, object]:
    document: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "dockerfile": report.dockerfile,
        "reader": report.reader.to_json(),
        "mode": report.mode,
        "ok": report.ok,
        "passed": report.passes,
        "exit_code": int(report.exit_code),
        "images": [verdict_json(v) for v in report.verdicts],
        "servers_failed": [{
            "server": f.server, "reason": f.error.reason.value, "message": f.error.message,
            "hint": _hint(f.verdicts[0]),
            "images": [str(v.pull.reference) for v in f.verdicts]}
            for f in server_failures(report)],
        "warnings": list(report.warnings),
    }
    if isinstance(report, LockedReport):
        images = document["images"]
        assert isinstance(images, list)
        for image in images:
            image["locked_digest"] = report.locked.get(image["reference"])
        document["lock"] = {
            "file": report.lock_file,
            "offline": report.offline,
            "not_pulled": [{"reference": e.reference, "digest": e.digest,
                            "reason": "not-pulled",
                            "message": str(unused_error(e, report.lock_file))}
                           for e in report.unused],
        }
    return document


def verdict_json(verdict: ImageVerdict) -> dict[str, object]:
    trusted, error = verdict.trusted, verdict.error
    return {
        **_pull_fields(verdict.pull),
        "status": verdict.status.value,
        "digest": trusted.digest if trusted else None,
        "role": trusted.role if trusted else None,
        "reason": verdict.reason.value if verdict.reason else None,
        "message": _why(verdict) or None,
        "hint": _hint(verdict),
        "signed_by": list(getattr(error, "signed_by", ())),
        "expires": trusted.expires.isoformat() if trusted else None,
        "notes": list(trusted.notes) if trusted else [],
        "server": trusted.server if trusted else error.server if error else None,
    }


def _pull_fields(pull: ImagePull) -> dict[str, object]:
    ref = pull.reference
    return {
        "reference": str(ref),
        "written": pull.written or str(ref),
        "expanded": pull.expanded,
        "tag": ref.tag,
        "instruction": pull.instruction,
        "line": pull.line,
        "column": pull.column,
        "stage": _stage_name(pull),
        "stage_index": pull.stage_index,
        "platform": pull.platform,
        "from_args": pull.from_args,
    }


def _stage_name(pull: ImagePull) -> str | None:
    """The stage's name; None for an unnamed stage (stage names start with a letter, so an
    index written as text is never a name)."""
    if pull.stage is None or pull.stage == str(pull.stage_index):
        return None
    return pull.stage


# -- lock ----------------------------------------------------------------------------------

def lock_changes_text(changes: Sequence[LockChange]) -> str:
    """One line per image whose lock entry changed: ``old → new digest (role)``."""
    lines = []
    for change in changes:
        old, new = change.old, change.new
        if change.kind == "removed" and old is not None:
            lines.append(f"removed  {change.reference}  {old.digest} ({old.role})")
        elif change.kind == "added" and new is not None:
            lines.append(f"added    {change.reference}  {new.digest} ({new.role})")
        elif change.kind == "updated" and old is not None and new is not None:
            lines.append(f"updated  {change.reference}  {old.digest} \u2192 {new.digest} "
                         f"({new.role})")
        elif old is not None and new is not None:
            lines.append(f"re-signed {change.reference}  {new.digest}: {old.role} "
                         f"[{_keys(old.key_ids)}] \u2192 {new.role} [{_keys(new.key_ids)}]")
    return "\n".join(lines)


def _keys(key_ids: Sequence[str]) -> str:
    return ", ".join(k[:12] for k in key_ids) or "no keys"


def lock_summary(result: LockResult) -> str:
    count = len(result.lock.images) if result.lock is not None else 0
    changed = len(result.changes)
    state = "written" if result.written else "up to date"
    detail = f"{changed} changed" if changed else "nothing changed"
    allowed = len(result.report.allowed)
    unlocked = f"; {allowed} allowed without trust data, not locked" if allowed else ""
    return f"{result.lock_file} {state}: {count} images, {detail}{unlocked}"


# -- scan ----------------------------------------------------------------------------------

def scan_text(report: ScanReport, *, quiet: bool = False) -> str:
    """One line per image per Dockerfile (``path:line``, status, reference, digest or why),
    one per Dockerfile that could not be checked, then the summary."""
    lines = []
    for scanned in report.files:
        if scanned.error is not None:
            line = getattr(scanned.error, "line", 0)
            where = f"{scanned.dockerfile}:{line}" if line else scanned.dockerfile
            lines.append(f"{where}: error: {scanned.error.message}")
            continue
        assert scanned.report is not None
        for verdict in scanned.report.verdicts:
            if quiet and verdict.status is Status.TRUSTED:
                continue
            lines.append(f"{scanned.dockerfile}:{verdict.pull.line}: "
                         f"{verdict_line(verdict, scanned.report.mode)}")
    return "\n".join([*lines, scan_summary(report)])


def scan_summary(report: ScanReport) -> str:
    counts: dict[str, int] = {}
    for scanned in report.files:
        if scanned.report is None:
            counts["Dockerfile errors"] = counts.get("Dockerfile errors", 0) + 1
            continue
        for verdict in scanned.report.verdicts:
            counts[verdict.status.value] = counts.get(verdict.status.value, 0) + 1
    failing = sum(1 for f in report.files if f.exit_code != 0)
    detail = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    return (f"scanned {len(report.files)} Dockerfiles ({failing} failing), "
            f"{report.images} distinct images: {detail or 'no images'} "
            f"(read as {report.reader.reader})")


def scan_json(report: ScanReport) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "reader": report.reader.to_json(),
        "ok": report.ok,
        "passed": report.passes,
        "exit_code": report.exit_code,
        "images": report.images,
        "files": [{
            "dockerfile": f.dockerfile,
            "exit_code": f.exit_code,
            "ok": f.ok,
            "passed": f.passes,
            "mode": f.report.mode if f.report is not None else None,
            "images": [verdict_json(v) for v in f.report.verdicts] if f.report else [],
            "warnings": list(f.report.warnings) if f.report else [],
            "error": error_fields(f.error),
        } for f in report.files],
    }


def scan_document(report: ScanReport, fmt: str) -> object:
    """``json``, ``sarif`` (SARIF 2.1.0, paths relative to the current directory) or
    ``codequality`` (GitLab Code Quality)."""
    import pathlib

    from trustbuild._internal import sarif

    if fmt == "sarif":
        return sarif.sarif_document(report, pathlib.Path.cwd())
    if fmt == "codequality":
        return sarif.code_quality(report)
    return scan_json(report)


# -- refs ----------------------------------------------------------------------------------

def refs_text(report: RefsReport) -> str:
    return "\n".join(_pull_line(p) for p in report.pulls)


def _pull_line(pull: ImagePull) -> str:
    where = f"{pull.line}:{pull.column}" if pull.line else "-"
    stage = pull.stage if pull.stage is not None else "-"
    written = f"  (written {pull.written!r})" if pull.written != str(pull.reference) else ""
    return (f"{where:<8} {pull.instruction:<18} stage={stage:<12} {pull.platform or '-':<14} "
            f"{pull.reference}{written}")


def refs_json(report: RefsReport) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "dockerfile": report.dockerfile,
        "reader": report.reader.to_json(),
        "images": [_pull_fields(p) for p in report.pulls],
        "warnings": list(report.warnings),
        "onbuild": {"read": report.onbuild_read, "not_read": [
            {"reference": n.reference, "reason": n.reason.value if n.reason else None,
             "message": n.message} for n in report.onbuild_not_read]},
    }


# -- inspect -------------------------------------------------------------------------------

def inspect_text(results: Sequence[InspectResult]) -> str:
    return "\n".join(_repository_text(r.report) for r in results if r.report is not None)


def _repository_text(report: RepositoryReport) -> str:
    lines = [f"\nSignatures for {report.name}  (trust server {report.server})\n",
             f"{'SIGNED TAG':<20} {'DIGEST':<71} {'SIGNERS'}"]
    for sig in sorted(report.signatures, key=lambda s: (s.tag, s.role)):
        accepted = report.accepted.get(sig.tag)
        used = accepted is not None and accepted.digest == sig.digest \
            and accepted.role == sig.role
        lines.append(f"{sig.tag:<20} {sig.digest:<71} {sig.signer} [{sig.role}]"
                     f"{' (used)' if used else ''}")
    if not report.signatures:
        lines.append("(no signed tags)")
    if report.signers:
        lines.append(f"\nList of signers and their keys for {report.name}\n")
        for name, keys in sorted(report.signers.items()):
            lines.append(f"{name:<20} {', '.join(k[:12] for k in keys) or '(no keys)'}")
    lines.append(f"\nAdministrative keys for {report.name}\n")
    lines.append(f"  Repository Key:\t{', '.join(report.repository_keys)}")
    lines.append(f"  Root Key:\t{', '.join(report.root_keys)}")
    lines.extend(f"  warning: {role} not read: {problem}"
                 for role, problem in sorted(report.problems.items()))
    return "\n".join(lines)


def inspect_json(results: Sequence[InspectResult], *, offline: bool = False
                 ) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "offline": offline,
        "repositories": [_inspect_result_json(r) for r in results],
    }


def _inspect_result_json(result: InspectResult) -> dict[str, object]:
    if result.report is None:
        return {"image": result.image, "ok": False, "error": error_fields(result.error)}
    report = result.report
    tags: dict[tuple[str, str], dict[str, Any]] = {}
    for sig in report.signatures:
        accepted = report.accepted.get(sig.tag)
        entry = tags.setdefault((sig.tag, sig.digest), {
            "tag": sig.tag, "digest": sig.digest, "size": sig.size, "signers": [],
            "roles": [], "accepted": accepted is not None and accepted.digest == sig.digest,
            "accepted_role": accepted.role if accepted and accepted.digest == sig.digest
            else None})
        if sig.signer not in entry["signers"]:
            entry["signers"].append(sig.signer)
        entry["roles"].append(sig.role)
    return {
        "image": result.image,
        "ok": True,
        "repository": report.name,
        "server": report.server,
        "signed_tags": sorted(tags.values(), key=lambda t: (t["tag"], t["digest"])),
        "signers": [{"name": n, "keys": list(keys)} for n, keys in sorted(report.signers.items())],
        "root_keys": list(report.root_keys),
        "repository_keys": list(report.repository_keys),
        "problems": dict(report.problems),
    }


# -- policy --------------------------------------------------------------------------------

def policy_rows(view: EffectivePolicy) -> dict[str, str]:
    """One image's effective policy as labelled lines, each with the file that set it."""
    server = view.server
    tls = [f"CA {server.ca}"] if server.ca else []
    tls += [f"client certificate {server.client_cert}"] if server.client_cert else []
    if view.root_pins:
        pin = " and ".join(r.describe_pin() for r in view.root_pins)
    elif view.tofu.value:
        pin = "none: trust on first use"
    else:
        pin = "none, and trust on first use is off: refused"
    signers = "targets/releases, else targets (the base rule)"
    if view.signers is not None:
        rule = view.signers
        keys = "".join(f" ({role}: {', '.join(ids)})" for role, ids in rule.signer_keys.items())
        signers = (f"base rule, and all of {', '.join(rule.signers)}{keys} on one digest"
                   f"  [{rule.source}]")
    exception = view.exception
    return {
        "image": str(view.image),
        "server": f"{server.url}  [{server.source}]",
        "tls": (", ".join(tls) + f"  [{server.source}]") if tls else
        "system store, or $DOCKER_CONFIG/tls/<host:port>/",
        "root pin": pin,
        "tofu": f"{'on' if view.tofu.value else 'off'}  [{view.tofu.source}]",
        "signers": signers,
        "exception": (f"allowed without trust data ({exception.match.text})  "
                      f"[{exception.source}]") if exception else "none",
        "mode": f"{view.mode.value}  [{view.mode.source}]",
        "offline": f"{'on' if view.offline.value else 'off'}  [{view.offline.source}]",
        "grace": f"{format_duration(view.grace.value)}  [{view.grace.source}]",
        "project policy": f"{view.project_policy.value}  [{view.project_policy.source}]",
        "ignored": "; ".join(str(i) for i in view.ignored) or "none",
        "files": ", ".join(view.files) or "none",
    }


def policy_text(views: Sequence[EffectivePolicy]) -> str:
    lines = []
    for view in views:
        rows = policy_rows(view)
        lines.append(rows.pop("image"))
        lines.extend(f"  {key:<15} {value}" for key, value in rows.items())
    return "\n".join(lines)


def _sourced(setting: Sourced) -> dict[str, object]:
    return {"value": setting.value, "source": setting.source}


def policy_json(views: Sequence[EffectivePolicy]) -> dict[str, object]:
    first = views[0] if views else None
    return {
        "schema_version": SCHEMA_VERSION,
        "files": list(first.files) if first else [],
        "project_policy": _sourced(first.project_policy) if first else None,
        "ignored": [i.to_json() for i in first.ignored] if first else [],
        "images": [_policy_image_json(v) for v in views],
    }


def _policy_image_json(view: EffectivePolicy) -> dict[str, object]:
    server = view.server
    return {
        "image": str(view.image),
        "server": {"url": server.url, "source": server.source,
                   "ca": str(server.ca) if server.ca else None,
                   "client_cert": str(server.client_cert) if server.client_cert else None},
        "root_pins": [{"key_ids": list(r.root_keys),
                       "certificates": [str(p) for p in r.root_certs],
                       "cas": [str(p) for p in r.root_cas], "source": r.source}
                      for r in view.root_pins],
        "tofu": _sourced(view.tofu),
        "unpinned_refused": view.unpinned_refused,
        "accepted_roles": ["targets/releases", "targets"],
        "required_signers": None if view.signers is None else {
            "roles": list(view.signers.signers),
            "keys": {role: list(ids) for role, ids in view.signers.signer_keys.items()},
            "source": view.signers.source},
        "exception": None if view.exception is None else {
            "match": view.exception.match.text, "reason": view.exception.reason,
            "source": view.exception.source},
        "mode": _sourced(view.mode),
        "offline": _sourced(view.offline),
        "grace": {"seconds": int(view.grace.value.total_seconds()),
                  "source": view.grace.source},
    }


# -- errors --------------------------------------------------------------------------------

def error_fields(error: BaseException | None) -> dict[str, object] | None:
    """An error as JSON: its exit code, machine reason, message, and where it applies."""
    if error is None:
        return None
    fields: dict[str, object] = {
        "exit_code": int(error.exit_code) if isinstance(error, TrustbuildError)
        else INTERNAL_ERROR,
        "reason": error.reason.value if isinstance(error, TrustError) else
        "dockerfile" if isinstance(error, DockerfileError) else
        "usage" if isinstance(error, TrustbuildError) and error.exit_code == 2 else "error",
        "message": str(error),
    }
    if isinstance(error, DockerfileError):
        fields.update(dockerfile=error.path, line=error.line)
    if isinstance(error, TrustError):
        fields.update(repository=error.gun, server=error.server)
    return fields


def error_json(error: BaseException, command: str) -> dict[str, object]:
    """What ``--format json`` prints when a command stops on an error."""
    return {"schema_version": SCHEMA_VERSION, "command": command, "ok": False,
            "passed": False, "error": error_fields(error)}
