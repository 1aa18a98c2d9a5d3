"""How dockerfile-parse (named by the user) reads Dockerfiles, against BuildKit: the
measurement behind keeping it out of trustbuild's decision path (docs/design.md).

    python3 -m nox -s compare

For each file of BuildKit's recorded corpus (fixtures/buildkit-dockerfile-cases.json), the
images dockerfile-parse reports for the whole file (``parent_images``, stage names and
``scratch`` dropped) against what BuildKit resolved over all stages; then the misreads that
hide or invent a pull.  It measures another project, so it is not part of the tests.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import dockerfile_parse

from trustbuild._internal.reference import parse_normalized
from trustbuild.errors import TrustbuildError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASES = {c["name"]: c for c in
         json.loads((FIXTURES / "buildkit-dockerfile-cases.json").read_text())["cases"]}
# (case, an image it invents, an image it misses): each hides or invents a pull.
MISREADS = [
    ("c05_heredoc", "docker.io/library/evil:1", None),  # heredoc body read as FROM
    ("c10_copy_from_img", None, "docker.io/library/nginx:1.25"),  # COPY --from image ignored
    ("c11_mount_from", None, "docker.io/library/busybox:1.36"),  # RUN --mount from ignored
    ("c06_empty_cont", None, "docker.io/library/golang:1.22"),  # blank continuation line
    ("t09_bom", None, "docker.io/library/alpine:3.19"),  # a BOM hides the only FROM
    ("c04_builtin", None, "docker.io/library/alpine:3.19-amd64"),  # builtin args unknown
    ("t11_escaped_backslash", None, "docker.io/library/evil:1"),  # `\\` read as continuation
]


def dfp_images(text: str) -> set[str] | None:
    """dockerfile-parse's view: normalized image refs, or None when it raised."""
    try:
        parser = dockerfile_parse.DockerfileParser(fileobj=io.BytesIO(text.encode()))
        names = parser.parent_images
        stages = {s.lower() for s in _stage_names(parser)}
    except Exception:
        return None
    found = set()
    for name in names:
        if name == "scratch" or name in stages:
            continue
        try:
            found.add(str(parse_normalized(name).with_default_tag()))
        except TrustbuildError:
            found.add(f"<invalid {name!r}>")
    return found


def _stage_names(parser: Any) -> list[str]:
    names = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            words = item["value"].split()
            if len(words) >= 3 and words[-2].lower() == "as":
                names.append(words[-1])
    return names


def buildkit_all_stages(case: dict[str, Any]) -> set[str] | None:
    for run in case["runs"]:
        if run["args"] == ["-all"]:
            if "error" in run:
                return None
            return {r["ref"] for r in run["resolved"]}
    return None


def main() -> None:
    results = {name: (buildkit_all_stages(case), dfp_images(case["dockerfile"]))
               for name, case in CASES.items()}
    accepted = {n: r for n, r in results.items() if r[0] is not None}
    wrong = sorted(n for n, (bk, dfp) in accepted.items() if bk != dfp)
    rejected = [n for n, (bk, dfp) in results.items() if bk is None]
    answered = [n for n in rejected if results[n][1] is not None]
    version = getattr(dockerfile_parse, "__version__", "")
    print(f"dockerfile-parse {version} on {len(results)} recorded BuildKit cases")
    print(f"  disagrees with BuildKit on {len(wrong)} of the {len(accepted)} files BuildKit "
          "accepts")
    print(f"  returns images for {len(answered)} of the {len(rejected)} files BuildKit rejects")
    print("  misreads that hide or invent a pull:")
    for case, invented, missed in MISREADS:
        buildkit, dfp = results[case]
        still = dfp is not None and buildkit is not None and (
            (invented is not None and invented in dfp and invented not in buildkit)
            or (missed is not None and missed in buildkit and missed not in dfp))
        what = f"invents {invented}" if invented else f"misses {missed}"
        print(f"    {case:<24} {what:<48} {'still' if still else 'fixed'}")


if __name__ == "__main__":
    main()
