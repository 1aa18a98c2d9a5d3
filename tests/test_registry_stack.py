"""Issue 12's cases 9 and 10 through `check` and `refs --onbuild` on the real stack, a base
image whose triggers cannot be read, and issue 16's `repository-not-found`.

The builders' ground truth is the registry's access log during a ``--no-cache`` build
(tests/stack/observe.py).  trustbuild runs as a user runs it, on the host, reading the
registry the images are named after (the stack's read-only twin of the namespace's registry,
tests/stack/services.py).  ``TRUSTBUILD_UNDER_TEST=/path/to/checkout`` runs these against
another checkout's trustbuild: at main 0171d52 every one of them fails (check passes case 9
and lists neither other:1 nor helper:1, refs has no --onbuild, an unreadable base is trusted,
a misspelt repository reads `not-signed`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.stack.observe import observe_build, run_trustbuild
from tests.stack.publisher import Published, Publisher
from tests.stack.services import DOCKER_CLI, Stack

pytestmark = pytest.mark.stack
EXIT_DOCKERFILE, EXIT_UNTRUSTED, EXIT_TRUST_ERROR = 3, 4, 5
NO_DOCKER = "/nonexistent/docker"


@dataclass(frozen=True)
class Images:
    good: Published
    other: Published  # unsigned
    onb: Published  # ONBUILD COPY --from=<other>
    onb5: Published  # ONBUILD COPY --from=helper (a stage of the child Dockerfile)
    helper: Published
    gone: Published  # signed, but the registry does not have it


@pytest.fixture(scope="module")
def images(publisher: Publisher) -> Images:
    good = publisher.sign_legacy("tb/ggood", "1")
    other = publisher.push_unsigned("tb/gother", "1")
    onb = publisher.build_and_sign(
        "tb/gonb", "1", f"FROM {good.ref}\nONBUILD COPY --from={other.ref} /etc/tb-image /o\n")
    onb5 = publisher.build_and_sign(
        "tb/gonb5", "1", f"FROM {good.ref}\nONBUILD COPY --from=helper /etc/tb-image /h\n")
    helper = publisher.sign_legacy("tb/ghelper", "1")
    fake = Published(publisher.gun("tb/ggone"), "1", "sha256:" + "ab" * 32, 527, None)
    gone = publisher.sign_targets_hash("tb/ggone", fake)
    return Images(good, other, onb, onb5, helper, gone)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def references(self) -> list[str]:
        return [i["reference"] for i in self.json()["images"]]


def trustbuild(stack: Stack, config: Path, tmp: Path, *args: str, dockerfile: str,
               docker: str = DOCKER_CLI, buildkit: bool = True) -> Result:
    result = run_trustbuild(stack, config, tmp / "ctx", dockerfile, args, buildkit=buildkit,
                            docker=docker)
    assert "Traceback" not in result.stderr, result.stderr
    return Result(result.returncode, result.stdout, result.stderr)


def host_requests(stack: Stack, since: int = 0) -> str:
    """What trustbuild asked the host's registry (its own access log)."""
    return stack.log("registry-host")[since:]


@pytest.mark.parametrize(("buildkit", "docker"), [(False, DOCKER_CLI), (True, DOCKER_CLI),
                                                  (True, NO_DOCKER)],
                         ids=["classic", "buildkit", "buildkit-no-docker"])
def test_case_9_a_trigger_pulling_an_image_is_refused(
        stack: Stack, publisher: Publisher, images: Images, consumer_config: Path,
        tmp_path: Path, buildkit: bool, docker: str) -> None:
    """The classic builder pulls the unsigned image the trigger names; BuildKit 0.8 runs the
    trigger without pulling it (and fails to copy from an empty image): refused either way."""
    dockerfile = "FROM REG/tb/gonb:1\n"
    observed = observe_build(stack, publisher.env, dockerfile, buildkit=buildkit)
    if not buildkit:
        assert images.other.ref in observed.tags, observed
    for args in (["check", "--format", "json"], ["refs", "--onbuild"]):
        result = trustbuild(stack, consumer_config, tmp_path, *args, dockerfile=dockerfile,
                            docker=docker, buildkit=buildkit)
        assert result.code == EXIT_DOCKERFILE, (args, result.out, result.err)
        assert f"pulls {images.other.ref}, which trustbuild cannot pin" in result.err
    # without docker, the triggers came from the registry, by the signed digest
    if docker == NO_DOCKER:
        repo = images.onb.repo.split("/", 1)[1]
        assert f"GET /v2/{repo}/manifests/{images.onb.digest}" in host_requests(stack)


def test_case_9_from_the_engine(stack: Stack, publisher: Publisher, images: Images,
                                consumer_config: Path, tmp_path: Path) -> None:
    """docker has the image: its triggers come from `docker image inspect`, the registry
    is not asked."""
    publisher.docker("pull", images.onb.ref)
    repo = images.onb.repo.split("/", 1)[1]
    before = len(host_requests(stack))
    result = trustbuild(stack, consumer_config, tmp_path, "check",
                        dockerfile="FROM REG/tb/gonb:1\n")
    assert result.code == EXIT_DOCKERFILE and images.other.ref in result.err
    assert f"/v2/{repo}/manifests/" not in host_requests(stack, before)


@pytest.mark.parametrize("docker", [DOCKER_CLI, NO_DOCKER], ids=["docker", "no-docker"])
def test_case_10_a_trigger_naming_a_stage_is_listed(
        stack: Stack, publisher: Publisher, images: Images, consumer_config: Path,
        tmp_path: Path, docker: str) -> None:
    dockerfile = "FROM REG/tb/ghelper:1 AS helper\nFROM REG/tb/gonb5:1\n"
    observed = observe_build(stack, publisher.env, dockerfile, buildkit=True)
    assert images.helper.ref in observed.tags, observed  # pulled for the trigger
    checked = trustbuild(stack, consumer_config, tmp_path, "check", "--format", "json",
                         dockerfile=dockerfile, docker=docker)
    assert checked.code == 0, checked.out + checked.err
    assert images.helper.ref in checked.references()
    assert observed.tags <= set(checked.references())
    listed = trustbuild(stack, consumer_config, tmp_path, "refs", "--onbuild", "--format",
                        "json", dockerfile=dockerfile, docker=docker)
    assert listed.code == 0, listed.err
    assert set(listed.references()) == {images.helper.ref, images.onb5.ref}
    # plain refs: no network, and it says which base images it did not read
    plain = trustbuild(stack, consumer_config, tmp_path, "refs", "--format", "json",
                       dockerfile=dockerfile, docker=docker)
    assert plain.code == 0 and plain.references() == [images.onb5.ref]
    assert images.onb5.ref in plain.err and "refs --onbuild" in plain.err
    assert [n["reference"] for n in plain.json()["onbuild"]["not_read"]] == [images.onb5.ref]


@pytest.mark.parametrize("docker", [DOCKER_CLI, NO_DOCKER], ids=["docker", "no-docker"])
def test_a_base_whose_triggers_cannot_be_read_fails_closed(
        stack: Stack, images: Images, consumer_config: Path, tmp_path: Path,
        docker: str) -> None:
    """Signed, but neither the engine nor the registry has it (and docker cannot pull it):
    what it would run in the build is unknown, so the check fails."""
    result = trustbuild(stack, consumer_config, tmp_path, "check", "--format", "json",
                        dockerfile="FROM REG/tb/ggood:1 AS a\nFROM REG/tb/ggone:1\n"
                        "COPY --from=a /etc/tb-image /a\n", docker=docker)
    assert result.code == EXIT_TRUST_ERROR, result.out + result.err
    verdicts = {i["reference"]: i for i in result.json()["images"]}
    gone = verdicts[images.gone.ref]
    assert gone["status"] == "error" and gone["reason"] == "onbuild-unreadable"
    assert "cannot read the ONBUILD triggers" in gone["message"]
    assert "MANIFEST_UNKNOWN" in gone["message"]
    if docker == DOCKER_CLI:
        assert "docker pull" in gone["message"]
    assert verdicts[images.good.ref]["status"] == "trusted"
    built = trustbuild(stack, consumer_config, tmp_path, "build", "-t", "tbgone:1",
                       dockerfile="FROM REG/tb/ggone:1\n")
    assert built.code == EXIT_TRUST_ERROR and "cannot read the ONBUILD triggers" in built.err


def test_a_misspelt_repository_is_repository_not_found(
        stack: Stack, images: Images, consumer_config: Path, tmp_path: Path) -> None:
    result = trustbuild(stack, consumer_config, tmp_path, "check", "--format", "json",
                        dockerfile="FROM REG/tb/gggood:1\nCOPY --from=REG/tb/gother:1 / /o\n")
    assert result.code == EXIT_UNTRUSTED
    misspelt, unsigned = result.json()["images"]
    assert misspelt["reason"] == "repository-not-found", misspelt
    assert misspelt["message"].startswith("No trust data for 1")
    assert f"the registry has no repository {stack.registry}/tb/gggood: misspelt?" in \
        misspelt["message"]
    # a repository the registry has, without trust data: no-trust-data, as before
    assert unsigned["reason"] == "no-trust-data", unsigned
    text = trustbuild(stack, consumer_config, tmp_path, "check",
                      dockerfile="FROM REG/tb/gggood:1\n")
    assert "misspelt?" in text.out
