"""Issue 12's fail-open cases on the real stack: what dockerd 20.10's builders (BuildKit 0.8 and
the classic builder) fetch from the registry for each file, against what trustbuild lists for
that builder, or trustbuild's refusal of the file.

Ground truth is the registry's access log during a ``--no-cache`` build, with the registry's
images removed from the engine first (tests/stack/observe.py).  trustbuild runs as a user runs
it (``python -m trustbuild check --format json``, ``build``) with the builder docker would use.
``TRUSTBUILD_UNDER_TEST=/path/to/checkout`` runs these tests against another checkout's
trustbuild (how the cases were shown to fail at 56248d6).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack.observe import Observed, forget_images, observe_build, run_trustbuild
from tests.stack.publisher import Published, Publisher
from tests.stack.services import DOCKER_CLI, Stack
from trustbuild._internal.dockerfile import BuildOptions, ImagePull
from trustbuild._internal.dockerfile.pulls import analyse_with_triggers
from trustbuild._internal.dockerfile.readers import reader_named

pytestmark = pytest.mark.stack
EXIT_DOCKERFILE = 3


@dataclass(frozen=True)
class Images:
    good: Published
    bad: Published
    onb: Published  # ONBUILD COPY --from=<other image>
    onb5: Published  # ONBUILD COPY --from=helper (a stage of the child Dockerfile)
    helper: Published


@pytest.fixture(scope="module")
def images(publisher: Publisher) -> Images:
    good = publisher.sign_legacy("tb/rgood", "1")
    other = publisher.push_unsigned("tb/rother", "1")
    return Images(
        good, publisher.push_unsigned("tb/rbad", "1"),
        publisher.build_and_sign("tb/ronb", "1", f"FROM {good.ref}\nONBUILD COPY "
                                 f"--from={other.ref} /etc/tb-image /other\n"),
        publisher.build_and_sign("tb/ronb5", "1", f"FROM {good.ref}\nONBUILD COPY "
                                 "--from=helper /etc/tb-image /helper\n"),
        publisher.sign_legacy("tb/rhelper", "1"))


@dataclass
class Listed:
    code: int
    references: set[str]
    output: str


def trustbuild(stack: Stack, config: Path, tmp: Path, command: str, dockerfile: str, *,
               buildkit: bool, args: Sequence[str] = ()) -> Listed:
    extra = ["--format", "json"] if command == "check" else ["-t", "tbreaders:out"]
    result = run_trustbuild(stack, config, tmp / f"ctx-{command}", dockerfile,
                            [command, *extra, *args], buildkit=buildkit)
    references: set[str] = set()
    if command == "check" and result.returncode != EXIT_DOCKERFILE and result.stdout.strip():
        references = {image["reference"] for image in json.loads(result.stdout)["images"]}
    return Listed(result.returncode, references, result.stdout + result.stderr)


def assert_listed_or_refused(observed: Observed, listed: Listed) -> None:
    """Every image the builder fetched is one trustbuild listed, or trustbuild refused."""
    assert observed.tags or observed.digests, f"the builder fetched nothing:\n{observed.output}"
    if listed.code == EXIT_DOCKERFILE:
        return
    listed_repos = {ref.split("@")[0].rsplit(":", 1)[0] for ref in listed.references}
    assert observed.tags <= listed.references, (observed, listed)
    assert observed.repositories <= listed_repos, (observed, listed)


# (case, Dockerfile, BuildKit or classic, docker build args)
CASES = [
    ("1-syntax-after-unknown-directive",
     "# foo=bar\n# syntax=REG/tb/rbad:1\nFROM REG/tb/rgood:1\n", True, ()),
    ("2-escape-after-check-buildkit", "# check=skip=all\n# escape=`\nFROM REG/tb/rgood:1\n"
     "RUN true # `\nCOPY --from=REG/tb/rbad:1 /etc/tb-image /x\n", True, ()),
    ("2-escape-after-check-classic", "# check=skip=all\n# escape=`\nFROM REG/tb/rgood:1\n"
     "RUN true # `\nCOPY --from=REG/tb/rbad:1 /etc/tb-image /x\n", False, ()),
    ("3-heredoc-buildkit", "FROM REG/tb/rgood:1\nRUN true # <<CMD\n"
     "COPY --from=REG/tb/rbad:1 /etc/tb-image /y\nCMD\n", True, ()),
    ("3-heredoc-classic", "FROM REG/tb/rgood:1\nRUN true # <<CMD\n"
     "COPY --from=REG/tb/rbad:1 /etc/tb-image /y\nCMD\n", False, ()),
    ("3-heredoc-onbuild-run", "FROM REG/tb/rgood:1\nONBUILD RUN cat <<CMD\n"
     "COPY --from=REG/tb/rbad:1 /etc/tb-image /y\nCMD\n", True, ()),
    ("4-modifier", "ARG T=${NOPE-1}\nFROM REG/tb/rmod:${T:-2}\n", True, ()),
    ("4-modifier-chain", "ARG V=abc\nARG T=${V#a}${V%c}\nFROM REG/tb/rmod:${T:-3}\n", True, ()),
    ("5-targetstage", "FROM REG/tb/rts${TARGETSTAGE:+2}:1\n", True, ()),
    ("6-redeclared-platform-arg", "ARG TARGETARCH\nFROM REG/tb/rta${TARGETARCH:+1}:1\n",
     True, ()),
    ("7-proxy-arg-classic", "FROM REG/tb/rproxy:${HTTP_PROXY:-1}\n", False,
     ("--build-arg", "HTTP_PROXY=2")),
    ("8-arg-line-classic", "ARG A=1 B=${A:-2}\nFROM REG/tb/rargs:${B}\n", False, ()),
]


@pytest.mark.parametrize(("dockerfile", "buildkit", "args"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_builder_fetches_only_what_check_lists(stack: Stack, publisher: Publisher,
                                                images: Images, consumer_config: Path,
                                                tmp_path: Path, dockerfile: str,
                                                buildkit: bool, args: Sequence[str]) -> None:
    observed = observe_build(stack, publisher.env, dockerfile, buildkit=buildkit, args=args)
    listed = trustbuild(stack, consumer_config, tmp_path, "check", dockerfile,
                        buildkit=buildkit, args=args)
    assert_listed_or_refused(observed, listed)


def _triggers_from_engine(publisher: Publisher, pulls: Sequence[ImagePull]) -> list[str]:
    ref = str(pulls[0].reference)
    publisher.docker("pull", ref)
    out = publisher.docker("image", "inspect", "--format", "{{json .Config.OnBuild}}", ref)
    return list(json.loads(out) or [])


@pytest.mark.parametrize(("case", "buildkit"), [("9", False), ("9", True), ("10", True)])
def test_base_image_triggers(stack: Stack, publisher: Publisher, images: Images,
                             consumer_config: Path, tmp_path: Path, case: str,
                             buildkit: bool) -> None:
    """Case 9: a base image's `ONBUILD COPY --from=<image>`; case 10: its
    `ONBUILD COPY --from=helper` naming a stage of the child file."""
    dockerfile = ("FROM REG/tb/ronb:1\n" if case == "9" else
                  "FROM REG/tb/rhelper:1 AS helper\nFROM REG/tb/ronb5:1\n")
    observed = observe_build(stack, publisher.env, dockerfile, buildkit=buildkit)
    # trustbuild build reads the triggers: an image one pulls cannot be pinned (refused); a
    # stage one names is checked and pinned like the rest, and the build runs
    built = trustbuild(stack, consumer_config, tmp_path, "build", dockerfile,
                       buildkit=buildkit)
    if case == "9":
        assert built.code == EXIT_DOCKERFILE, built.output
        assert "ONBUILD" in built.output
    else:
        assert built.code == 0, built.output
        assert f"{images.helper.ref} -> {images.helper.digest}" in built.output
    # the front end, given the triggers read at the image, lists every image fetched
    reader = reader_named("buildkit-0.8" if buildkit else "classic")
    text = dockerfile.replace("REG", stack.registry)
    analysis = analyse_with_triggers(text, BuildOptions(reader=reader),
                                     lambda pulls: _triggers_from_engine(publisher, pulls))
    forget_images(stack, publisher.env)
    listed = Listed(0, {str(p.reference) for p in analysis.pulls}, "")
    assert_listed_or_refused(observed, listed)
    expected = images.helper if case == "10" else None
    if expected is not None:
        assert expected.ref in observed.tags and expected.ref in listed.references


def test_tmpfs_mount_with_from_is_refused_before_docker_runs(
        stack: Stack, publisher: Publisher, images: Images, consumer_config: Path,
        tmp_path: Path) -> None:
    """`RUN --mount=type=tmpfs,from=…` crashes dockerd 20.10 (nil pointer in
    dispatchRunMounts); trustbuild refuses the file and docker never sees it."""
    dockerfile = ("FROM REG/tb/rgood:1\n"
                  "RUN --mount=type=tmpfs,from=REG/tb/rgood:1,target=/m true\n")
    built = trustbuild(stack, consumer_config, tmp_path, "build", dockerfile, buildkit=True)
    assert built.code == EXIT_DOCKERFILE, built.output
    assert "tmpfs mount does not support from" in built.output
    alive = subprocess.run([DOCKER_CLI, "-H", stack.docker_host, "version"],
                           capture_output=True, check=False, timeout=30)
    assert alive.returncode == 0, "dockerd is gone"
