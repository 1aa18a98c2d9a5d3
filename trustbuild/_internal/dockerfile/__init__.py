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
    find_pulls,
)

__all__ = [
    "Analysis",
    "BuildOptions",
    "Builder",
    "ImagePull",
    "PinnedDockerfile",
    "Replacement",
    "analyse",
    "find_pulls",
    "pin",
    "pinned_reference",
]
