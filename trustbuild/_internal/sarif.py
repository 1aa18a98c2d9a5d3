"""A scan for code review tools: SARIF 2.1.0 (GitHub code scanning, and any SARIF viewer)
and GitLab's Code Quality report, with one finding per refused or unverifiable image at its
Dockerfile line, and one per Dockerfile that cannot be read.

Called by ``output`` (the one place that formats); pure.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustbuild._internal.plan import ImageVerdict, Status
from trustbuild._version import __version__
from trustbuild.errors import Reason, TrustbuildError

if TYPE_CHECKING:
    from trustbuild._internal.scan import ScannedFile, ScanReport

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    short: str
    full: str
    help: str
    severity: str | None  # GitHub's security-severity (CVSS-like); None: not a security rule


NO_TRUST_DATA = Rule(
    "no-trust-data", "NoTrustData", "Image has no acceptable trust data",
    "The build pulls an image whose tag is not signed by the targets/releases delegation or "
    "the targets role of its repository's Docker Content Trust data (docker: 'No trust data "
    "for <tag>'), or the trust policy refuses it.  trustbuild will not build on it.",
    "Sign the tag into targets/releases (`docker trust sign`, or `notary addhash … --roles "
    "targets/releases`), or use a signed tag.  `trustbuild inspect IMAGE` shows what is "
    "signed and by whom.", "8.0")
OTHER_ROLE = Rule(
    "signed-by-other-role", "SignedByOtherDelegation",
    "Image is signed only by a delegation trustbuild does not accept",
    "The tag is signed, but only by a delegation other than targets/releases (or the "
    "targets role), which Docker Content Trust does not accept.",
    "Have a targets/releases signer sign the tag; `trustbuild inspect IMAGE` lists the "
    "roles that signed it.", "8.0")
TRUST_ERROR = Rule(
    "trust-not-established", "TrustNotEstablished", "Trust could not be established",
    "The image's trust data could not be read or verified: the trust server could not be "
    "reached, TLS or authentication failed, metadata expired, signatures did not verify, "
    "or the root changed.  trustbuild fails closed.",
    "The result's message names the cause and the trust server; fix the connection, CA "
    "(`$DOCKER_CONFIG/tls/<host:port>/ca.crt`) or credentials, or ask the repository's "
    "owner to re-sign expired metadata.", "5.0")
DOCKERFILE_ERROR = Rule(
    "dockerfile-error", "DockerfileError", "Dockerfile cannot be checked",
    "The Dockerfile cannot be read the way its builder reads it, or the images it pulls "
    "cannot be decided statically, so none of its images can be verified.",
    "Fix the error the message names (`trustbuild refs` lists what the builder would pull).",
    None)
RULES = (NO_TRUST_DATA, OTHER_ROLE, TRUST_ERROR, DOCKERFILE_ERROR)


def rule_for(verdict: ImageVerdict) -> Rule:
    """The rule a refused or unverifiable image breaks (anything unknown: trust error)."""
    if verdict.status is Status.REFUSED:
        return OTHER_ROLE if verdict.reason is Reason.SIGNED_BY_OTHER_ROLE else NO_TRUST_DATA
    return TRUST_ERROR


def sarif_document(report: ScanReport, cwd: Path) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for scanned in report.files:
        results.extend(_file_results(scanned))
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "trustbuild",
                "semanticVersion": __version__,
                "version": __version__,
                "rules": [_rule_json(r) for r in RULES],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": cwd.absolute().as_uri() + "/"}},
            "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
            "results": results,
        }],
    }


def code_quality(report: ScanReport) -> list[dict[str, Any]]:
    """GitLab's Code Quality report (``artifacts:reports:codequality``), which merge
    requests show; GitLab does not read SARIF there."""
    issues = []
    for scanned in report.files:
        for result in _file_results(scanned):
            rule = RULES[result["ruleIndex"]]
            region = result["locations"][0]["physicalLocation"]["region"]
            issues.append({
                "description": result["message"]["text"],
                "check_name": rule.id,
                "fingerprint": result["partialFingerprints"]["trustbuild/v1"],
                "severity": "minor" if result["level"] == "warning" else
                "critical" if rule.severity else "major",
                "location": {"path": scanned.dockerfile,
                             "lines": {"begin": region["startLine"]}},
            })
    return issues


def _rule_json(rule: Rule) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": ["security", "supply-chain", "docker"]
                                  if rule.severity else ["correctness", "docker"]}
    if rule.severity:
        properties["security-severity"] = rule.severity
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.short},
        "fullDescription": {"text": rule.full},
        "help": {"text": rule.help},
        "defaultConfiguration": {"level": "error"},
        "properties": properties,
    }


def _file_results(scanned: ScannedFile) -> list[dict[str, Any]]:
    if scanned.error is not None:
        line = getattr(scanned.error, "line", 0) or 1
        return [_result(DOCKERFILE_ERROR, "error", _error_text(scanned.error),
                        scanned.dockerfile, line, 1, {"reason": Reason.DOCKERFILE.value},
                        scanned.dockerfile)]
    report = scanned.report
    assert report is not None
    level = "warning" if report.mode == "warn" else "error"
    results = []
    seen: dict[str, int] = {}
    for verdict in report.verdicts:
        if verdict.status in (Status.TRUSTED, Status.ALLOWED):
            continue
        rule = rule_for(verdict)
        pull = verdict.pull
        error = verdict.error
        properties = {
            "reference": str(pull.reference),
            "instruction": pull.instruction,
            "status": verdict.status.value,
            "reason": verdict.reason.value if verdict.reason else Reason.ERROR.value,
            "repository": error.gun if error else None,
            "server": error.server if error else None,
        }
        text = f"{pull.reference} ({pull.instruction}): {verdict.message}"
        # The same image twice in one stage is two findings: the nth occurrence tells them
        # apart, and unlike the line it does not change when lines move.
        identity = f"{pull.reference}|{pull.instruction}|{pull.stage_index}"
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] > 1:
            identity += f"|{seen[identity]}"
        results.append(_result(rule, level, text, scanned.dockerfile, max(pull.line, 1),
                               max(pull.column, 1), properties, identity))
    return results


def _error_text(error: TrustbuildError) -> str:
    message = error.message if hasattr(error, "message") else str(error)
    return f"Dockerfile cannot be checked: {message}"


def _result(rule: Rule, level: str, text: str, path: str, line: int, column: int,
            properties: dict[str, Any], identity: str) -> dict[str, Any]:
    """One result; its fingerprint stays the same when lines move, so a code-scanning
    alert follows the image, not the line number."""
    fingerprint = hashlib.sha256(f"{rule.id}|{path}|{identity}".encode(
        "utf-8", "surrogateescape")).hexdigest()
    return {
        "ruleId": rule.id,
        "ruleIndex": RULES.index(rule),
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": {
            "artifactLocation": _artifact(path),
            "region": {"startLine": line, "startColumn": column},
        }}],
        "partialFingerprints": {"trustbuild/v1": fingerprint},
        "properties": properties,
    }


def _artifact(path: str) -> dict[str, Any]:
    if path.startswith("/"):
        return {"uri": Path(path).as_uri()}
    # A name's undecodable bytes (held as surrogates) are percent-encoded as the bytes.
    return {"uri": urllib.parse.quote(path, errors="surrogateescape"), "uriBaseId": SRCROOT}
