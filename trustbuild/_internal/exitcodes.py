"""Exit codes of the trustbuild commands (docs/guide.md lists them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trustbuild._internal.plan import CheckReport

OK = 0
# docker's own status is returned unchanged when docker ran and failed (usually 1).
USAGE = 2  # a command line trustbuild or docker would reject
DOCKERFILE = 3  # the Dockerfile cannot be read as BuildKit reads it
UNTRUSTED = 4  # an image has no acceptable trust data: "No trust data for <tag>"
TRUST_ERROR = 5  # trust could not be established: network, auth, expiry, signatures…


def for_report(report: CheckReport) -> int:
    if report.passes:
        return OK
    if report.unverified:
        return TRUST_ERROR
    if report.refused:
        return UNTRUSTED
    return OK
