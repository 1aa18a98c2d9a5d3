"""`trustbuild lock` and `--locked` against the simulated trust server, through the installed
entry point (no docker needed: check and pin; builds are in test_lock_stack.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.cli import Run, trustbuild
from tests.conftest import ExampleRegistry
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from tests.registrysim import image
from tests.schemas import validate_lock

DIGEST = image(None, "base 1").digest.removeprefix("sha256:")
MOVED = image(None, "base 1, re-signed").digest.removeprefix("sha256:")
TOOL = image(None, "tool 2").digest.removeprefix("sha256:")


@pytest.fixture()
def repos(sim: SimServer, example_registry: ExampleRegistry) -> dict[str, SimRepo]:
    """Trust data for reg.example/base and tool; the registry holds the images (each base
    image's ONBUILD triggers are read there: there is no docker)."""
    for repository, marker in (("base", "base 1"), ("base", "base 1, re-signed"),
                               ("tool", "tool 2"), ("base", "tool 2")):
        example_registry.push(repository, marker)
    base = sim.add(SimRepo("reg.example/base"))
    base.sign_tag("1", DIGEST)
    base.publish()
    tool = sim.add(SimRepo("reg.example/tool"))
    tool.delegate("targets/releases")
    tool.sign_tag("2", TOOL, role="targets/releases")
    tool.publish()
    return {"base": base, "tool": tool}


@pytest.fixture()
def env(sim: SimServer, config: Path, example_registry: ExampleRegistry
        ) -> dict[str, str | None]:
    return {"DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
            "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None,
            **example_registry.env}


DOCKERFILE = ("ARG BASE=reg.example/base:1\n"
              "FROM ${BASE} AS build\n"
              "RUN make\n"
              "FROM reg.example/tool:2\n"
              "COPY --from=build /out /out\n"
              "COPY --from=reg.example/base:1 /etc /etc\n")


def context(tmp_path: Path, text: str = DOCKERFILE) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(text)
    return ctx


def lock_of(ctx: Path) -> dict[str, object]:
    doc = json.loads((ctx / "trustbuild.lock.json").read_text())
    validate_lock(doc)
    assert isinstance(doc, dict)
    return doc


def tb(*args: str, env: dict[str, str | None]) -> Run:
    result = trustbuild(*args, env=env)
    assert "Traceback" not in result.err, result.err
    return result


def test_lock_records_the_signing_evidence(repos: dict[str, SimRepo], env: dict[str, str | None],
                                           tmp_path: Path, sim: SimServer) -> None:
    ctx = context(tmp_path)
    result = tb("lock", str(ctx), env=env)
    assert result.code == 0, result.err
    assert "written: 2 images, 2 changed" in result.err
    doc = lock_of(ctx)
    assert doc["dockerfile"] == "Dockerfile"
    images = doc["images"]
    assert isinstance(images, list)
    base, tool = images
    assert base["reference"] == "reg.example/base:1"
    assert base["digest"] == f"sha256:{DIGEST}" and base["role"] == "targets"
    assert base["key_ids"] == [repos["base"].keys["targets"][0].keyid]
    assert base["server"] == sim.hostport
    assert base["metadata_version"] == repos["base"].versions["targets"]
    expires = repos["base"].expiry("targets")
    assert base["metadata_expires"][:10] == f"{expires:%Y-%m-%d}"
    assert [(p["line"], p["instruction"], p["written"], p["stage"]) for p in base["pulls"]] == [
        (2, "FROM", "${BASE}", "build"), (6, "COPY --from", "reg.example/base:1", None)]
    assert tool["role"] == "targets/releases"
    assert tool["key_ids"] == [repos["tool"].delegations["targets/releases"].keys[0].keyid]
    # stable: a second run changes nothing, and says so
    before = (ctx / "trustbuild.lock.json").read_bytes()
    again = tb("lock", str(ctx), env=env)
    assert again.code == 0 and "up to date" in again.err and again.out == ""
    assert (ctx / "trustbuild.lock.json").read_bytes() == before


def test_relock_keeps_what_is_unchanged_and_prints_what_moved(
        repos: dict[str, SimRepo], env: dict[str, str | None], tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert tb("lock", str(ctx), env=env).code == 0
    tool_before = lock_of(ctx)["images"][1]  # type: ignore[index]
    repos["base"].sign_tag("1", MOVED)
    repos["base"].publish()
    repos["tool"].publish()  # re-signed, same digest: the entry is kept as it was
    result = tb("lock", str(ctx), env=env)
    assert result.code == 0, result.err
    assert result.out.strip() == (f"updated  reg.example/base:1  sha256:{DIGEST} \u2192 "
                                  f"sha256:{MOVED} (targets)")
    images = lock_of(ctx)["images"]
    assert images[0]["digest"] == f"sha256:{MOVED}"  # type: ignore[index]
    assert images[1] == tool_before  # type: ignore[index]


def test_check_locked_is_the_review_gate(repos: dict[str, SimRepo],
                                         env: dict[str, str | None], tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert tb("lock", str(ctx), env=env).code == 0
    ok = tb("check", "--locked", str(ctx), env=env)
    assert ok.code == 0, ok.out + ok.err
    assert "as locked in" in ok.out
    # the tag moves: refused, naming the tag, both digests and what to do
    repos["base"].sign_tag("1", MOVED)
    repos["base"].publish()
    moved = tb("check", "--locked", "--format", "json", str(ctx), env=env)
    assert moved.code == 4
    report = json.loads(moved.out)
    refused = [i for i in report["images"] if i["status"] == "refused"]
    assert {i["reason"] for i in refused} == {"lock-mismatch"}
    message = refused[0]["message"]
    assert "reg.example/base:1 moved" in message and f"sha256:{DIGEST}" in message
    assert f"sha256:{MOVED}" in message and "trustbuild lock" in message
    assert refused[0]["locked_digest"] == f"sha256:{DIGEST}"
    assert report["lock"]["offline"] is False
    # an image the lock does not list, and a locked image no longer pulled
    repos["base"].sign_tag("1", DIGEST)
    repos["base"].publish()
    (ctx / "Dockerfile").write_text("FROM reg.example/base:1 AS a\nFROM reg.example/base:2\n"
                                    "COPY --from=a / /\n")
    repos["base"].sign_tag("2", TOOL)
    repos["base"].publish()
    drift = tb("check", "--locked", "--format", "json", str(ctx), env=env)
    assert drift.code == 4
    report = json.loads(drift.out)
    assert {(i["reference"], i["reason"]) for i in report["images"]} == {
        ("reg.example/base:1", None), ("reg.example/base:2", "not-locked")}
    assert [(e["reference"], e["reason"]) for e in report["lock"]["not_pulled"]] == [
        ("reg.example/tool:2", "not-pulled")]
    text = tb("check", "--locked", str(ctx), env=env)
    assert "reg.example/tool:2, which the Dockerfile no longer pulls" in text.out


def test_pin_locked_uses_the_lock_and_offline_asks_no_server(
        repos: dict[str, SimRepo], env: dict[str, str | None], tmp_path: Path,
        sim: SimServer, example_registry: ExampleRegistry) -> None:
    ctx = context(tmp_path)
    assert tb("lock", str(ctx), env=env).code == 0
    pinned = tb("pin", "--locked", str(ctx), env=env)
    assert pinned.code == 0, pinned.err
    assert f"FROM reg.example/tool:2@sha256:{TOOL}" in pinned.out
    # offline, the locked digests are confirmed against the trust cache, no server asked …
    asked = len(sim.log)
    offline_env = env
    offline = tb("pin", "--locked", "--offline", str(ctx), env=offline_env)
    assert offline.code == 0, offline.err
    assert offline.out == pinned.out
    assert len(sim.log) == asked
    check = tb("check", "--locked", "--offline", str(ctx), env=offline_env)
    assert check.code == 0 and "confirmed against the local trust cache" in check.out
    # … and with no trust cache, the lock alone vouches for nothing: it is in the build
    # context, written by whoever wrote the change
    fresh = example_registry.trust_in(tmp_path / "fresh-config")
    empty = tb("pin", "--locked", "--offline", str(ctx), env={**env, "DOCKER_CONFIG": str(fresh)})
    assert empty.code == 5 and empty.out == "", empty.err
    # a tag moved on the server does not matter offline; online it does
    repos["base"].sign_tag("1", MOVED)
    repos["base"].publish()
    assert tb("pin", "--locked", "--offline", str(ctx), env=offline_env).code == 0
    refused = tb("pin", "--locked", str(ctx), env=env)
    assert refused.code == 4 and refused.out == ""
    assert "moved" in refused.err and "run `trustbuild lock`" in refused.err


BAD_LOCKS = {
    "not JSON": (b"{not json", "not JSON"),
    "schema": (b'{"schema_version": 9, "dockerfile": "Dockerfile", "images": []}',
               "schema_version 9"),
    "digest": (None, "is not 'sha256:' and 64"),
    "other Dockerfile": (None, "locks the Dockerfile 'other/Dockerfile'"),
    "entry for another Dockerfile": (None, "is for Dockerfile 'x.Dockerfile'"),
    "missing": (b"", "no lock file"),
}


@pytest.mark.parametrize("case", sorted(BAD_LOCKS))
@pytest.mark.parametrize("command", ["check", "pin", "build"])
def test_bad_locks_are_one_clear_error(repos: dict[str, SimRepo], env: dict[str, str | None],
                                       tmp_path: Path, case: str, command: str) -> None:
    ctx = context(tmp_path)
    assert tb("lock", str(ctx), env=env).code == 0
    lock = ctx / "trustbuild.lock.json"
    good = json.loads(lock.read_text())
    data, words = BAD_LOCKS[case]
    if case == "digest":
        good["images"][0]["digest"] = "sha256:abc"
    elif case == "other Dockerfile":
        good["dockerfile"] = "other/Dockerfile"
        for image in good["images"]:
            for pull in image["pulls"]:
                pull["dockerfile"] = "other/Dockerfile"
    elif case == "entry for another Dockerfile":
        good["images"][1]["pulls"][0]["dockerfile"] = "x.Dockerfile"
    if case == "missing":
        lock.unlink()
    else:
        lock.write_bytes(data if data is not None else json.dumps(good).encode())
    shim = tmp_path / "docker-shim"
    shim.write_text("#!/bin/sh\n"  # docker 20.10 to `docker version`; records the rest
                    "if [ \"$1\" = version ]; then echo '20.10.24|20.10.24'; exit 0; fi\n"
                    f"echo \"$@\" >> {tmp_path}/docker-calls\nexit 42\n")
    shim.chmod(0o755)
    result = tb(command, "--locked", "--docker", str(shim), str(ctx),
                env={**env, "DOCKER_BUILDKIT": "1"})
    assert result.code == 2, result.err
    assert words in result.err and result.err.count("\n") == 1
    calls = tmp_path / "docker-calls"
    assert not calls.exists() or "build" not in calls.read_text(), "docker build ran"
    # lock refuses to overwrite what it cannot read as this Dockerfile's lock
    if case != "missing":
        before = lock.read_bytes()
        assert tb("lock", str(ctx), env=env).code == 2
        assert lock.read_bytes() == before


def test_lock_writes_nothing_for_an_untrusted_build(repos: dict[str, SimRepo],
                                                    env: dict[str, str | None],
                                                    tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM reg.example/base:1\nFROM reg.example/unsigned:1\n")
    result = tb("lock", str(ctx), env=env)
    assert result.code == 4
    assert "No trust data" in result.err and "not written" in result.err
    assert not (ctx / "trustbuild.lock.json").exists()


def test_lock_output_file_and_build_options(repos: dict[str, SimRepo],
                                            env: dict[str, str | None],
                                            tmp_path: Path) -> None:
    ctx = context(tmp_path)
    (ctx / "app.Dockerfile").write_text("ARG T=1\nFROM reg.example/base:${T}\n")
    repos["base"].sign_tag("2", TOOL)
    repos["base"].publish()
    out = tmp_path / "locks" / "app.lock.json"
    out.parent.mkdir()
    result = tb("lock", "-f", str(ctx / "app.Dockerfile"), "--build-arg", "T=2", "-o",
                str(out), str(ctx), env=env)
    assert result.code == 0, result.err
    doc = json.loads(out.read_text())
    validate_lock(doc)
    assert doc["dockerfile"] == "../ctx/app.Dockerfile"
    assert [i["reference"] for i in doc["images"]] == ["reg.example/base:2"]
    # the same lock, used without the build arg: the build pulls another image
    check = tb("check", "--lock-file", str(out), "-f", str(ctx / "app.Dockerfile"), str(ctx),
               env=env)
    assert check.code == 4 and "reg.example/base:1 is not in" in check.out


def test_a_lock_edited_in_a_change_is_never_taken_at_its_word(
        repos: dict[str, SimRepo], env: dict[str, str | None], tmp_path: Path) -> None:
    """The lock is in the build context: a change may edit it with the Dockerfile.  Online
    or offline, a locked digest counts only where verified trust data signs it."""
    ctx = context(tmp_path, "FROM reg.example/base:1\n")
    assert tb("lock", str(ctx), env=env).code == 0  # fills the trust cache too
    evil = hashlib.sha256(b"not what was signed").hexdigest()
    doc = lock_of(ctx)
    images = doc["images"]
    assert isinstance(images, list)
    images[0]["digest"] = f"sha256:{evil}"
    (ctx / "trustbuild.lock.json").write_text(json.dumps(doc, indent=2))
    for args in (("check", "--locked", "--offline"), ("check", "--locked"),
                 ("pin", "--locked", "--offline")):
        result = tb(*args, str(ctx), env=env)
        assert result.code == 4, (args, result.out, result.err)
        assert "moved" in result.out + result.err
    # and a user policy that turns offline mode on gets the same cache check
    policy = tmp_path / "offline.toml"
    policy.write_text("[trust]\noffline = true\n")
    assert tb("check", "--locked", "--config", str(policy), str(ctx), env=env).code == 4
