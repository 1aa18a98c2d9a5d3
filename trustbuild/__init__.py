"""trustbuild: build container images only on base images whose tags are signed.

The public API is what this module exports (docs/api.md documents each name); everything
under ``trustbuild._internal`` may change without notice.  Exceptions are in
:mod:`trustbuild.errors`.
"""

from __future__ import annotations

from trustbuild._internal.dockerfile import ImagePull
from trustbuild._internal.dockerfile.pinning import PinnedDockerfile
from trustbuild._internal.dockerfile.readers import ReaderChoice
from trustbuild._internal.lockfile import Lock, LockEntry
from trustbuild._internal.notary.client import TrustClient, TrustedDigest
from trustbuild._internal.notary.inspection import RepositoryReport
from trustbuild._internal.plan import CheckReport, ImageVerdict, Status
from trustbuild._internal.scan import ScannedFile, ScanReport
from trustbuild._version import __version__
from trustbuild.api import (
    BuildResult,
    InspectResult,
    LockResult,
    RefsReport,
    build,
    check,
    inspect,
    lock,
    pin,
    refs,
    scan,
    trust_client,
)

__all__ = [
    "BuildResult",
    "CheckReport",
    "ImagePull",
    "ImageVerdict",
    "InspectResult",
    "Lock",
    "LockEntry",
    "LockResult",
    "PinnedDockerfile",
    "ReaderChoice",
    "RefsReport",
    "RepositoryReport",
    "ScanReport",
    "ScannedFile",
    "Status",
    "TrustClient",
    "TrustedDigest",
    "__version__",
    "build",
    "check",
    "inspect",
    "lock",
    "pin",
    "refs",
    "scan",
    "trust_client",
]
