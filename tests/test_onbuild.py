"""ONBUILD triggers stored in base images, in every command (issue 12, cases 9 and 10, for
check, pin, lock, scan, refs): read at the signed digest, re-analysed, a stage a trigger names
checked, a trigger that pulls an image refused, and a base image whose triggers cannot be read
failing closed.  Against the notary simulator and a loopback registry (plain http, as docker
uses a 127.0.0.0/8 registry); the real builders' side is in test_registry_stack.py."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli import Run, trustbuild
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from tests.registrysim import RegistrySim, image, serving
from trustbuild._internal.dockerfile import BuildOptions
from trustbuild._internal.notary.client import TrustedDigest
from trustbuild._internal.onbuild import OnbuildReader
from trustbuild._internal.plan import CheckReport, Dockerfile, Status, check_dockerfile
from trustbuild._internal.reference import ImageReference, parse_normalized
from trustbuild.errors import DockerfileError, NoTrustData, OnbuildUnreadable, Reason, TrustError

AMD64 = "linux/amd64"


# -- the plan, with the trust answers and the triggers given ------------------------------------

Answers = dict[str, TrustedDigest | TrustError]
Asked = list[list[str]]
Read = list[tuple[str, tuple[str, ...]]]


def answers(*signed: str) -> Answers:
    out: Answers = {}
    for ref in signed:
        reference = parse_normalized(ref)
        digest = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
        out[ref] = TrustedDigest(reference, reference.name, reference.tag or "", digest, 1,
                                 "targets", datetime.now(UTC), "sim")
    return out


def resolver(known: Answers) -> tuple[Callable[[Iterable[str]], Answers], Asked]:
    asked: Asked = []

    def resolve(refs: Iterable[str]) -> Answers:
        wanted = list(refs)
        asked.append(wanted)
        return {r: known.get(r) or NoTrustData(f"No trust data for {r}") for r in wanted}
    return resolve, asked


def check(text: str, known: Answers, triggers: dict[str, list[str]] | None
          ) -> tuple[CheckReport, Asked, Read]:
    """The check of *text*; *triggers*: each base repository's triggers (None: they cannot
    be read)."""
    resolve, asked = resolver(known)
    read: Read = []

    def onbuild(image: ImageReference, platforms: Sequence[str]) -> list[str]:
        read.append((str(image), tuple(platforms)))
        if triggers is None:
            raise OnbuildUnreadable(f"cannot read the triggers of {image}")
        return triggers.get(image.name, [])

    report = check_dockerfile(Dockerfile(text, None, "Dockerfile"),
                              BuildOptions(build_platform=AMD64), resolve, onbuild=onbuild)
    return report, asked, read


def test_a_trigger_naming_a_stage_brings_that_stage_in() -> None:
    text = "FROM reg.example/helper:1 AS helper\nFROM reg.example/onb5:1\n"
    known = answers("reg.example/helper:1", "reg.example/onb5:1")
    report, asked, read = check(text, known, {"reg.example/onb5": ["COPY --from=helper /x /x"],
                                              "reg.example/helper": []})
    assert [(str(v.pull.reference), v.status) for v in report.verdicts] == [
        ("reg.example/helper:1", Status.TRUSTED), ("reg.example/onb5:1", Status.TRUSTED)]
    # onb5's triggers read at its signed digest, for the target platform; then helper's
    onb5 = known["reg.example/onb5:1"]
    assert isinstance(onb5, TrustedDigest)
    assert read[0] == (f"reg.example/onb5@{onb5.digest}", (AMD64,))
    assert [r[0].split("@")[0] for r in read] == ["reg.example/onb5", "reg.example/helper"]
    # helper was not pulled before the trigger brought it in: resolved then
    assert asked[0] == ["reg.example/onb5:1"] and ["reg.example/helper:1"] in asked


def test_a_trigger_pulling_an_image_is_refused() -> None:
    known = answers("reg.example/onb:1")
    with pytest.raises(DockerfileError, match=r"ONBUILD trigger in the base image's config "
                                              r"pulls reg\.example/other:1") as caught:
        check("FROM reg.example/onb:1\n", known,
              {"reg.example/onb": ["COPY --from=reg.example/other:1 / /x"]})
    assert caught.value.exit_code == 3 and caught.value.line == 1


def test_triggers_that_pull_nothing_are_fine() -> None:
    report, _, _ = check("FROM reg.example/onb:1\n", answers("reg.example/onb:1"),
                         {"reg.example/onb": ["RUN make", "COPY . /src"]})
    assert report.ok


def test_unreadable_triggers_fail_closed() -> None:
    report, _, _ = check("FROM reg.example/onb:1\nCOPY --from=reg.example/onb:1 / /\n",
                         answers("reg.example/onb:1"), None)
    base, copied = report.verdicts
    assert base.status is Status.ERROR and base.reason is Reason.ONBUILD_UNREADABLE
    assert "cannot read the triggers" in (base.message or "")
    assert copied.status is Status.TRUSTED  # a COPY --from image runs no triggers
    assert report.exit_code == 5 and not report.passes
    with pytest.raises(TrustError):
        report.pinned()


def test_no_reader_given_fails_closed() -> None:
    resolve, _ = resolver(answers("reg.example/onb:1"))
    report = check_dockerfile(Dockerfile("FROM reg.example/onb:1\n", None, "Dockerfile"),
                              BuildOptions(), resolve)
    assert report.verdicts[0].reason is Reason.ONBUILD_UNREADABLE


def test_an_untrusted_base_has_no_digest_to_read_at() -> None:
    report, _, read = check("FROM reg.example/unsigned:1\n", {}, {})
    assert read == [] and report.verdicts[0].status is Status.REFUSED
    assert report.warnings == []  # refused anyway: nothing to add


# -- the reader: engine, registry, docker pull ----------------------------------------------------

@pytest.fixture()
def registry() -> Iterator[RegistrySim]:
    with serving(RegistrySim()) as sim:
        yield sim


def fake_docker(tmp_path: Path, engine: dict[str, str], *, daemon: bool = True) -> Path:
    """A docker CLI whose engine holds *engine* (``name@digest`` -> OnBuild JSON), recording
    its calls; ``pull`` adds nothing."""
    script = tmp_path / "docker"
    log = tmp_path / "calls"
    cases = "\n".join(f'    "{k}") echo \'{v}\'; exit 0;;' for k, v in engine.items())
    down = "" if daemon else 'echo "Cannot connect to the Docker daemon" >&2; exit 1\n'
    script.write_text(f"""#!/bin/sh
echo "$@" >> {log}
{down}if [ "$1 $2" = "image inspect" ]; then
  eval last=\\${{$#}}
  case "$last" in
{cases}
  esac
  echo "Error: No such image: $last" >&2; exit 1
fi
if [ "$1" = pull ]; then echo "pull denied" >&2; exit 1; fi
exit 0
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


def reader(tmp_path: Path, docker: Path | None, with_registry: bool = True) -> OnbuildReader:
    from trustbuild._internal.notary.transport import Transport, TransportConfig
    from trustbuild._internal.registry import RegistryClient

    registry = RegistryClient(Transport(TransportConfig(docker_config=tmp_path / "cfg",
                                                        backoff=0.0))) \
        if with_registry else None
    return OnbuildReader(registry=registry, docker=str(docker) if docker else None,
                         env=dict(os.environ))


def test_the_engine_answers_first(registry: RegistrySim, tmp_path: Path) -> None:
    digest = registry.push("tb/onb", image(["RUN from-registry"]))
    ref = parse_normalized(f"{registry.hostport}/tb/onb@{digest}")
    docker = fake_docker(tmp_path, {str(ref): '["RUN from-engine"]'})
    assert reader(tmp_path, docker).read(ref, [AMD64]) == ["RUN from-engine"]
    assert registry.requests == []
    assert calls(tmp_path) == [f"image inspect --format {{{{json .Config.OnBuild}}}} {ref}"]


def test_the_registry_when_the_engine_lacks_the_image(registry: RegistrySim,
                                                      tmp_path: Path) -> None:
    digest = registry.push("tb/onb", image(["RUN from-registry"]))
    ref = parse_normalized(f"{registry.hostport}/tb/onb@{digest}")
    found = reader(tmp_path, fake_docker(tmp_path, {})).read(ref, [AMD64])
    assert found == ["RUN from-registry"]
    assert not any(c.startswith("pull") for c in calls(tmp_path))


def test_unreadable_names_every_source(registry: RegistrySim, tmp_path: Path) -> None:
    ref = parse_normalized(f"{registry.hostport}/tb/gone@sha256:{'2' * 64}")
    registry.repositories.add("tb/gone")
    onbuild = reader(tmp_path, fake_docker(tmp_path, {}))
    with pytest.raises(OnbuildUnreadable) as caught:
        onbuild.read(ref, [AMD64])
    message = str(caught.value)
    assert "the engine does not have it" in message and "MANIFEST_UNKNOWN" in message
    assert "pull denied" in message  # then docker pull by digest, which failed too
    assert caught.value.reason is Reason.ONBUILD_UNREADABLE
    # asked once: the answer (a failure too) is kept for the run
    before = len(registry.requests)
    with pytest.raises(OnbuildUnreadable):
        onbuild.read(ref, [AMD64])
    assert len(registry.requests) == before


def test_no_docker_and_no_registry(tmp_path: Path) -> None:
    ref = parse_normalized(f"127.0.0.1:9/tb/x@sha256:{'3' * 64}")
    down = fake_docker(tmp_path, {}, daemon=False)
    with pytest.raises(OnbuildUnreadable, match="Cannot connect to the Docker daemon"):
        reader(tmp_path, down, with_registry=False).read(ref, [AMD64])
    # a daemon that does not answer is not asked to pull either
    assert not any(c.startswith("pull") for c in calls(tmp_path))
    assert "OnbuildReader(docker=" in repr(reader(tmp_path, down))


# -- the commands, end to end on the simulators -------------------------------------------------

@dataclass
class World:
    registry: RegistrySim
    sim: SimServer
    env: dict[str, str | None]
    host: str

    def publish(self, name: str, tag: str, triggers: list[str] | None = None) -> str:
        digest = self.registry.push(name, image(triggers, f"{name}:{tag}"), tag)
        repo = self.sim.repos.get(f"{self.host}/{name}") or \
            self.sim.add(SimRepo(f"{self.host}/{name}"))
        repo.sign_tag(tag, digest.removeprefix("sha256:"))
        repo.publish()
        return digest


@pytest.fixture()
def world(sim: SimServer, config: Path, registry: RegistrySim) -> World:
    env: dict[str, str | None] = {
        "DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
        "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None}
    return World(registry, sim, env, registry.hostport)


def run(world: World, tmp_path: Path, *args: str, dockerfile: str) -> Run:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile.replace("REG", world.host))
    result = trustbuild(*args, str(ctx), env=world.env)
    assert "Traceback" not in result.err, result.err
    return result


def test_case_9_in_every_command(world: World, tmp_path: Path) -> None:
    """`FROM reg/onb:1` whose config carries `ONBUILD COPY --from=reg/other:1`: the builder
    pulls other:1, which no pin reaches: every command refuses the file."""
    world.publish("tb/onb", "1", [f"COPY --from={world.host}/tb/other:1 /etc /other"])
    world.publish("tb/other", "1")
    for command in (["check"], ["check", "--format", "json"], ["pin"], ["lock"],
                    ["refs", "--onbuild"]):
        result = run(world, tmp_path, *command, dockerfile="FROM REG/tb/onb:1\n")
        assert result.code == 3, (command, result.err)
        assert f"pulls {world.host}/tb/other:1, which trustbuild cannot pin" in result.err
    scan = trustbuild("scan", "--format", "json", str(tmp_path / "ctx"), env=world.env)
    assert scan.code == 3 and "cannot pin" in json.loads(scan.out)["files"][0]["error"][
        "message"]


def test_case_10_a_stage_named_by_a_trigger(world: World, tmp_path: Path) -> None:
    world.publish("tb/onb5", "1", ["COPY --from=helper /etc /helper"])
    world.publish("tb/helper", "1")
    text = "FROM REG/tb/helper:1 AS helper\nFROM REG/tb/onb5:1\n"
    checked = run(world, tmp_path, "check", "--format", "json", dockerfile=text)
    assert checked.code == 0, checked.err
    assert [i["reference"] for i in json.loads(checked.out)["images"]] == [
        f"{world.host}/tb/helper:1", f"{world.host}/tb/onb5:1"]
    pinned = run(world, tmp_path, "pin", dockerfile=text)
    assert pinned.code == 0 and f"FROM {world.host}/tb/helper:1@sha256:" in pinned.out
    # refs without network lists only onb5 and says why; --onbuild lists helper too
    plain = run(world, tmp_path, "refs", "--format", "json", dockerfile=text)
    document = json.loads(plain.out)
    assert plain.code == 0
    assert [i["reference"] for i in document["images"]] == [f"{world.host}/tb/onb5:1"]
    assert document["onbuild"] == {"read": False, "not_read": [
        {"reference": f"{world.host}/tb/onb5:1", "reason": None,
         "message": "not read: refs reads no network without --onbuild"}]}
    assert f"ONBUILD triggers of base images were not read (refs reads no network): " \
           f"{world.host}/tb/onb5:1" in plain.err
    read = run(world, tmp_path, "refs", "--onbuild", "--format", "json", dockerfile=text)
    assert read.code == 0, read.err
    document = json.loads(read.out)
    assert sorted(i["reference"] for i in document["images"]) == [
        f"{world.host}/tb/helper:1", f"{world.host}/tb/onb5:1"]
    assert document["onbuild"] == {"read": True, "not_read": []} and read.err == ""


def test_a_base_whose_triggers_cannot_be_read_fails_closed(world: World,
                                                           tmp_path: Path) -> None:
    digest = world.publish("tb/gone", "1")
    del world.registry.manifests[("tb/gone", digest)]  # signed, then deleted from the registry
    result = run(world, tmp_path, "check", "--format", "json", dockerfile="FROM REG/tb/gone:1\n")
    assert result.code == 5, result.err
    [verdict] = json.loads(result.out)["images"]
    assert verdict["status"] == "error" and verdict["reason"] == "onbuild-unreadable"
    assert "cannot read the ONBUILD triggers" in verdict["message"]
    assert "MANIFEST_UNKNOWN" in verdict["message"]
    refs = run(world, tmp_path, "refs", "--onbuild", dockerfile="FROM REG/tb/gone:1\n")
    assert refs.code == 5 and "could not be read" in refs.err


def test_a_registry_serving_other_content_fails_closed(world: World, tmp_path: Path) -> None:
    """The registry is never trusted: content that is not the signed digest is refused, so a
    registry cannot hide a trigger by serving another config."""
    digest = world.publish("tb/onb", "1", [f"COPY --from={world.host}/tb/other:1 / /"])
    world.registry.tampered[digest] = image(None, "innocent").manifest
    result = run(world, tmp_path, "check", dockerfile="FROM REG/tb/onb:1\n")
    assert result.code == 5 and "refusing it" in result.out


def test_a_misspelt_repository(world: World, tmp_path: Path) -> None:
    world.publish("tb/base", "1")
    world.registry.push("tb/notrust", image(None, "n"), "1")
    result = run(world, tmp_path, "check", "--format", "json",
                 dockerfile="FROM REG/tb/basse:1\nCOPY --from=REG/tb/notrust:1 / /n\n"
                            "COPY --from=REG/tb/notrust:2 / /m\n")
    assert result.code == 4
    misspelt, unsigned, missing_tag = json.loads(result.out)["images"]
    assert misspelt["reason"] == "repository-not-found"
    assert misspelt["message"].startswith("No trust data for 1")
    assert f"the registry has no repository {world.host}/tb/basse: misspelt?" in \
        misspelt["message"]
    # the repository exists, without trust data: no-trust-data, as before
    assert unsigned["reason"] == "no-trust-data" and "registry" not in unsigned["message"]
    assert missing_tag["reason"] == "no-trust-data"
    assert "the registry has no tag 2" in missing_tag["message"]


def test_an_allowed_base_images_triggers_are_read_at_its_tag_or_it_fails() -> None:
    """A policy exception vouches for the image it names, never for what its triggers pull:
    such a base is read at its tag, and a trigger that pulls an image is refused; where its
    triggers cannot be read, it is an error like a trusted base (review finding 8)."""
    from trustbuild._internal.policy import Policy
    from trustbuild._internal.policy import _exception as exception_rule

    policy = Policy()
    policy.exceptions.append(exception_rule({"match": "reg.example/legacy:*"}, "policy.toml",
                                            "exception[0]"))
    resolve, _ = resolver({})
    text = "FROM reg.example/legacy:1\n"
    read: Read = []

    def pulling(image: ImageReference, platforms: Sequence[str]) -> list[str]:
        read.append((str(image), tuple(platforms)))
        return ["COPY --from=reg.example/other:1 / /o"]

    with pytest.raises(DockerfileError, match="cannot pin"):
        check_dockerfile(Dockerfile(text, None, "Dockerfile"),
                         BuildOptions(build_platform=AMD64), resolve, policy, onbuild=pulling)
    assert read == [("reg.example/legacy:1", (AMD64,))]  # at its tag: no signed digest

    def unreadable(image: ImageReference, platforms: Sequence[str]) -> list[str]:
        raise OnbuildUnreadable(f"cannot read the triggers of {image}")

    report = check_dockerfile(Dockerfile(text, None, "Dockerfile"),
                              BuildOptions(build_platform=AMD64), resolve, policy,
                              onbuild=unreadable)
    [verdict] = report.verdicts
    assert verdict.status is Status.ERROR and verdict.reason is Reason.ONBUILD_UNREADABLE


def test_a_trigger_of_several_lines_is_refused() -> None:
    # a trigger that reads as two instructions would hide the second one's pulls
    from trustbuild._internal.dockerfile.pulls import trigger_from_specs
    from trustbuild._internal.dockerfile.readers import CURRENT
    from trustbuild.errors import DockerfileError

    with pytest.raises(DockerfileError, match="not one instruction"):
        trigger_from_specs("RUN true\nCOPY --from=alpine / /", 3, CURRENT)
