"""The Dockerfile front end: which images a build pulls, and the pinned Dockerfile.

Pure functions over text; no I/O.
"""

from trustbuild._internal.dockerfile.pinning import (
    PinnedDockerfile,
    Replacement,
    pin,
    pinned_reference,
)
from trustbuild._internal.dockerfile.pulls import (
    Analysis,
    Builder,
    BuildOptions,
    ImagePull,
    analyse,
    analyse_with_triggers,
    find_pulls,
)
from trustbuild._internal.dockerfile.readers import Reader, ReaderChoice, Rules, reader_named

__all__ = [
    "Analysis",
    "BuildOptions",
    "Builder",
    "ImagePull",
    "PinnedDockerfile",
    "Reader",
    "ReaderChoice",
    "Replacement",
    "Rules",
    "analyse",
    "analyse_with_triggers",
    "find_pulls",
    "pin",
    "pinned_reference",
    "reader_named",
]
