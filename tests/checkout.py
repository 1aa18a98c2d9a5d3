"""A copy of this repository as a consumer gets it (a checkout at a ref), without this working
tree's by-products: what the GitHub Action and pre-commit install trustbuild from."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_CHECKED_OUT = shutil.ignore_patterns(".git", ".nox", "build", "dist", "*.egg-info",
                                         "__pycache__", ".*_cache", ".hypothesis", "wheelhouse")
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "trustbuild tests", "GIT_AUTHOR_EMAIL": "tests@trustbuild.invalid",
           "GIT_COMMITTER_NAME": "trustbuild tests",
           "GIT_COMMITTER_EMAIL": "tests@trustbuild.invalid"}


def copy_checkout(dest: Path) -> Path:
    """The working tree's files (committed or not) at *dest*."""
    shutil.copytree(ROOT, dest, ignore=NOT_CHECKED_OUT)
    return dest


def git_repository(path: Path) -> Path:
    """Make *path* a git repository with everything in it committed."""
    env = {**os.environ, **GIT_ENV}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "test"]):
        subprocess.run(argv, cwd=path, env=env, check=True, capture_output=True)
    return path
