"""Issue 15: a project's policy (the build context's .trustbuild.toml) may only tighten the
user's; registry names are matched however they are spelt.  Every key, both ways."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Client
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal.dockerfile import BuildOptions
from trustbuild._internal.output import policy_rows
from trustbuild._internal.plan import Dockerfile, Status, check_dockerfile
from trustbuild._internal.policy import (
    IgnoredSetting,
    Policy,
    effective_for,
    load,
    registry_names,
)
from trustbuild._internal.reference import parse_normalized
from trustbuild.errors import PolicyError, PolicyRefusal, Reason, RootError

REG = "reg.example:5000"
GUN = f"{REG}/app"
KEY_A, KEY_B = "a" * 64, "b" * 64
D1 = hashlib.sha256(b"one").hexdigest()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def policies(tmp_path: Path, user: str, project: str, *, via_config: bool = False) -> Policy:
    """The effective policy with *user* as the user's file (or ``--config``) and *project*
    as the build context's .trustbuild.toml."""
    ctx = tmp_path / "ctx"
    write(ctx / ".trustbuild.toml", project)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    if via_config:
        return load(config=str(write(tmp_path / "mine.toml", user)), context=str(ctx),
                    env=env)
    write(tmp_path / "xdg/trustbuild/config.toml", user)
    return load(context=str(ctx), env=env)


def ignored_keys(policy: Policy) -> list[str]:
    return [i.key for i in policy.ignored]


# -- [trust] scalars, each both ways ---------------------------------------------------------

SCALARS: list[tuple[str, str, str, Callable[[Policy], Any], Any, bool]] = [
    # (user, project, key, read, expected value, applied)
    ("", "[trust]\ntofu = false\n", "tofu", lambda p: p.tofu.value, False, True),
    ("[trust]\ntofu = false\n", "[trust]\ntofu = true\n", "tofu",
     lambda p: p.tofu.value, False, False),
    ("[trust]\nmode = 'warn'\n", "[trust]\nmode = 'enforce'\n", "mode",
     lambda p: p.mode.value, "enforce", True),
    ("", "[trust]\nmode = 'warn'\n", "mode", lambda p: p.mode.value, "enforce", False),
    ("[trust]\noffline = true\n", "[trust]\noffline = false\n", "offline",
     lambda p: p.offline.value, False, True),
    ("", "[trust]\noffline = true\n", "offline", lambda p: p.offline.value, False, False),
    ("[trust]\ngrace = '2d'\n", "[trust]\ngrace = '1h'\n", "grace",
     lambda p: p.grace.value, timedelta(hours=1), True),
    ("[trust]\ngrace = '1h'\n", "[trust]\ngrace = '7d'\n", "grace",
     lambda p: p.grace.value, timedelta(hours=1), False),
    ("", "[trust]\ngrace = '30m'\n", "grace", lambda p: p.grace.value, timedelta(0), False),
]


@pytest.mark.parametrize(("user", "project", "key", "read", "expected", "applied"), SCALARS)
@pytest.mark.parametrize("via_config", [False, True])
def test_trust_settings_only_tighten(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                     user: str, project: str, key: str,
                                     read: Callable[[Policy], Any], expected: Any,
                                     applied: bool, via_config: bool) -> None:
    with caplog.at_level(logging.WARNING, logger="trustbuild"):
        policy = policies(tmp_path, user, project, via_config=via_config)
    assert read(policy) == expected
    project_file = str(tmp_path / "ctx/.trustbuild.toml")
    if applied:
        assert getattr(policy, key).source == project_file
        assert policy.ignored == []
    else:
        assert getattr(policy, key).source != project_file
        [item] = policy.ignored
        assert (item.file, item.key) == (project_file, f"trust.{key}")
        assert project_file in caplog.text and f"trust.{key}" in caplog.text


@pytest.mark.parametrize(("project", "message"), [
    ("[[exception]]\nmatch = 'a/[b]'\n", "bad glob"),
    ("[[server]]\nregistry = 'r'\nproxy = 'x'\n", r"unknown key server\[0\]\.proxy"),
    ("[trust]\nmode = 'lenient'\n", "trust.mode must be one of"),
])
def test_an_invalid_project_file_is_an_error_even_where_ignored(tmp_path: Path, project: str,
                                                                message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        policies(tmp_path, "", project)
    assert ".trustbuild.toml" in str(caught.value)


def test_a_project_cannot_opt_itself_in(tmp_path: Path) -> None:
    policy = policies(tmp_path, "", "[trust]\nproject_policy = 'trusted'\nmode = 'warn'\n")
    assert policy.mode.value == "enforce"
    assert sorted(ignored_keys(policy)) == ["trust.mode", "trust.project_policy"]


# -- rules ---------------------------------------------------------------------------------------

def test_project_exceptions_are_ignored(tmp_path: Path) -> None:
    for via_config in (False, True):
        policy = policies(tmp_path, "", "[[exception]]\nmatch = '**'\nreason = 'all'\n",
                          via_config=via_config)
        assert policy.exception_for(parse_normalized(f"{GUN}:1")) is None
        assert ignored_keys(policy) == ["exception[0]"]
        assert "match" in policy.ignored[0].value


def test_project_servers_are_ignored(tmp_path: Path) -> None:
    user = f"[[server]]\nregistry = '{REG}'\nurl = 'https://notary.corp.example'\n"
    project = (f"[[server]]\nregistry = '{REG}'\nurl = 'https://evil.example'\n"
               "[[server]]\nregistry = 'other.example'\nurl = 'https://evil.example'\n")
    for via_config in (False, True):
        policy = policies(tmp_path, user, project, via_config=via_config)
        ref = parse_normalized(f"{GUN}:1")
        assert policy.server_for(ref, {}).url == "https://notary.corp.example"
        assert policy.server_for(parse_normalized("other.example/x"), {}).url == \
            "https://other.example"  # docker's rule, not the project's
        assert ignored_keys(policy) == ["server[0]", "server[1]"]


def test_a_project_pin_replaces_trust_on_first_use(tmp_path: Path) -> None:
    policy = policies(tmp_path, "", f"[[repository]]\nmatch = '{GUN}'\nroot_keys = ['{KEY_B}']\n")
    assert [r.root_keys for r in policy.root_pins(GUN)] == [(KEY_B,)]
    assert policy.root_pin(GUN) is not None and policy.ignored == []
    # the project turns trust on first use off and pins what it uses: still a pin
    policy = policies(tmp_path, "", "[trust]\ntofu = false\n"
                      f"[[repository]]\nmatch = '{GUN}'\nroot_keys = ['{KEY_B}']\n")
    assert policy.tofu.value is False and policy.root_pin(GUN) is not None
    assert policy.root_pin(f"{REG}/other") is None


def test_a_project_pin_narrows_the_users_pin(tmp_path: Path) -> None:
    policy = policies(tmp_path, f"[[repository]]\nmatch = '{REG}/**'\nroot_keys = ['{KEY_A}']\n",
                      f"[[repository]]\nmatch = '{GUN}'\nroot_keys = ['{KEY_B}']\n")
    assert [r.root_keys for r in policy.root_pins(GUN)] == [(KEY_A,), (KEY_B,)]


def test_a_project_pin_cannot_admit_what_the_user_refuses(tmp_path: Path) -> None:
    """The user's policy trusts nothing unpinned: a pin the project chose (a root the pull
    request's author controls) must not make a repository trusted."""
    policy = policies(tmp_path, "[trust]\ntofu = false\n",
                      f"[[repository]]\nmatch = '{GUN}'\nroot_keys = ['{KEY_B}']\n")
    assert policy.root_pins(GUN) == () and policy.root_pin(GUN) is None
    rows = policy_rows(effective_for(policy, parse_normalized(f"{GUN}:1"), {}))
    assert rows["root pin"].endswith("refused")


def test_an_unpinned_project_rule_ahead_of_the_users_pin_changes_nothing(
        tmp_path: Path) -> None:
    user = f"[[repository]]\nmatch = '{GUN}'\nroot_keys = ['{KEY_A}']\n"
    policy = policies(tmp_path, user, "[[repository]]\nmatch = '**'\n")
    assert [r.root_keys for r in policy.root_pins(GUN)] == [(KEY_A,)]
    rule = policy.repository_rule(GUN)
    assert rule is not None and rule.root_keys == (KEY_A,)


def test_project_signers_add_to_the_users(tmp_path: Path) -> None:
    user = (f"[[repository]]\nmatch = '{GUN}'\nsigners = ['releases']\n"
            f"signer_keys = {{releases = ['{KEY_A}']}}\n")
    project = (f"[[repository]]\nmatch = '{REG}/*'\nsigners = ['qa', 'releases']\n"
               f"signer_keys = {{releases = ['{KEY_B}'], qa = ['{KEY_A}']}}\n")
    rule = policies(tmp_path, user, project).repository_rule(GUN)
    assert rule is not None
    assert rule.signers == ("targets/releases", "targets/qa")
    assert dict(rule.signer_keys) == {"targets/releases": (KEY_A, KEY_B),
                                      "targets/qa": (KEY_A,)}
    assert ".trustbuild.toml" in rule.source and "config.toml" in rule.source
    alone = policies(tmp_path, "", "[[repository]]\nmatch = '**'\nsigners = ['qa']\n")
    rule = alone.repository_rule(GUN)
    assert rule is not None and rule.signers == ("targets/qa",)


# -- the user's choice ---------------------------------------------------------------------------

LOOSE = (f"[trust]\nmode = 'warn'\ntofu = true\n[[exception]]\nmatch = '**'\n"
         f"[[server]]\nregistry = '{REG}'\nurl = 'https://proj.example'\n")


def test_a_user_who_trusts_project_policies_gets_them_whole(tmp_path: Path) -> None:
    """As before issue 15: the project's file outranks the user file (not ``--config``)."""
    policy = policies(tmp_path, "[trust]\nproject_policy = 'trusted'\ntofu = false\n", LOOSE)
    assert policy.mode.value == "warn" and policy.tofu.value is True
    assert policy.exception_for(parse_normalized(f"{GUN}:1")) is not None
    assert policy.server_for(parse_normalized(GUN), {}).url == "https://proj.example"
    assert policy.ignored == []


def test_a_user_who_ignores_project_policies_reads_none(tmp_path: Path) -> None:
    policy = policies(tmp_path, "[trust]\nproject_policy = 'ignore'\n",
                      "[trust]\ntofu = false\nnot valid = [\n")
    assert policy.tofu.value is True
    [item] = policy.ignored
    assert item.key == "*" and "ignore" in item.reason


def test_the_first_of_the_users_files_decides(tmp_path: Path) -> None:
    write(tmp_path / "xdg/trustbuild/config.toml", "[trust]\nproject_policy = 'trusted'\n")
    ctx = tmp_path / "ctx"
    write(ctx / ".trustbuild.toml", "[trust]\nmode = 'warn'\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert load(context=str(ctx), env=env).mode.value == "warn"
    strict = write(tmp_path / "strict.toml", "[trust]\nproject_policy = 'tighten-only'\n")
    policy = load(config=str(strict), context=str(ctx), env=env)
    assert policy.mode.value == "enforce" and policy.project_policy.source == str(strict)
    bad = write(tmp_path / "bad.toml", "[trust]\nproject_policy = 'sometimes'\n")
    with pytest.raises(PolicyError, match=r"trust\.project_policy must be one of"):
        load(config=str(bad), env=env)


def test_ignored_settings_are_structured(tmp_path: Path) -> None:
    policy = policies(tmp_path, "", LOOSE)
    assert all(isinstance(i, IgnoredSetting) for i in policy.ignored)
    assert [i.to_json()["key"] for i in policy.ignored] == \
        ["trust.mode", "server[0]", "exception[0]"]
    first = policy.ignored[0].to_json()
    assert set(first) == {"file", "key", "value", "reason"} and first["value"] == '"warn"'
    shown = policy_rows(effective_for(policy, parse_normalized(f"{GUN}:1"), {}))
    assert "trust.mode" in shown["ignored"] and shown["project policy"].startswith(
        "tighten-only")


# -- effects on the simulator ---------------------------------------------------------------

def test_a_pull_request_cannot_switch_the_gate_off(sim: SimServer, client: Client,
                                                   tmp_path: Path) -> None:
    signed = sim.add(SimRepo(f"{REG}/signed"))
    signed.sign_tag("1", D1)
    signed.publish()
    text = f"FROM {signed.gun}:1\nCOPY --from={REG}/unsigned:2 / /u\n"
    policy = policies(tmp_path, "[trust]\ntofu = false\n"
                      f"[[repository]]\nmatch = '{signed.gun}'\n"
                      f"root_keys = ['{signed.keys['root'][0].keyid}']\n", LOOSE)
    c = client(policy=policy)
    source = Dockerfile(text, None, "Dockerfile")
    report = check_dockerfile(source, BuildOptions(), c.resolve_many, policy=policy,
                              onbuild=lambda image, platforms: [])  # no triggers
    status = {str(v.pull.reference): v.status for v in report.verdicts}
    # not allowed by the project's exception: refused (nothing unpinned is trusted)
    assert status == {f"{signed.gun}:1": "trusted", f"{REG}/unsigned:2": "error"}
    assert not report.passes and report.mode == "enforce"
    trusting = policies(tmp_path, "[trust]\nproject_policy = 'trusted'\n", LOOSE)
    report = check_dockerfile(source, BuildOptions(), client(policy=trusting).resolve_many,
                              policy=trusting, onbuild=lambda image, platforms: [])
    assert {v.status for v in report.verdicts} == {Status.TRUSTED, Status.ALLOWED}
    assert report.passes


def test_a_project_pin_is_enforced(sim: SimServer, client: Client, tmp_path: Path) -> None:
    r = sim.add(SimRepo(f"{REG}/narrowed"))
    r.sign_tag("1", D1)
    r.publish()
    project = f"[[repository]]\nmatch = '{r.gun}'\nroot_keys = ['{KEY_B}']\n"
    with pytest.raises(RootError, match="not the pinned root"):
        client(policy=policies(tmp_path, "", project)).resolve(f"{r.gun}:1")
    with pytest.raises(RootError) as caught:  # the user refuses unpinned: still refused
        client(policy=policies(tmp_path, "[trust]\ntofu = false\n", project)
               ).resolve(f"{r.gun}:1")
    assert caught.value.reason == Reason.NO_PINNED_ROOT
    signers = f"[[repository]]\nmatch = '{r.gun}'\nsigners = ['qa']\n"
    with pytest.raises(PolicyRefusal, match="targets/qa has not signed 1"):
        client(policy=policies(tmp_path, "", signers)).resolve(f"{r.gun}:1")


# -- 7: registry names as docker reaches them ------------------------------------------------

VARIANTS = ["REGISTRY.corp.example", "registry.corp.example:443", "Registry.Corp.Example:0443",
            "REGISTRY.CORP.EXAMPLE:443", "registry.corp.example"]
RULES = ("[[server]]\nregistry = 'registry.corp.example'\nurl = 'https://notary.corp.example'\n"
         "[[repository]]\nmatch = 'registry.corp.example/platform/**'\n"
         f"root_keys = ['{KEY_A}']\n"
         "[[exception]]\nmatch = 'registry.corp.example/vendor/*'\n")


@pytest.mark.parametrize("registry", VARIANTS)
@pytest.mark.parametrize("written", ["registry.corp.example", "REGISTRY.corp.example:443"])
def test_rules_see_every_spelling_of_a_registry(tmp_path: Path, registry: str,
                                                written: str) -> None:
    policy = policies(tmp_path, RULES.replace("registry.corp.example", written), "")
    base = parse_normalized(f"{registry}/platform/base:1")
    assert policy.server_for(base, {}).url == "https://notary.corp.example"
    assert [r.root_keys for r in policy.root_pins(base.name)] == [(KEY_A,)]
    assert policy.exception_for(parse_normalized(f"{registry}/vendor/tool:2")) is not None


@pytest.mark.parametrize("registry", ["registry.corp.example:5000", "registry.corp.example.evil",
                                      "evil-registry.corp.example", "[::1]:443"])
def test_other_registries_stay_other(tmp_path: Path, registry: str) -> None:
    policy = policies(tmp_path, RULES, "")
    base = parse_normalized(f"{registry}/platform/base:1")
    assert policy.server_for(base, {}).url == f"https://{registry}"
    assert policy.root_pins(base.name) == ()


def test_registry_names() -> None:
    assert registry_names("Reg.Example") == ("reg.example", "reg.example:443")
    assert registry_names("reg.example:00443") == ("reg.example", "reg.example:443")
    assert registry_names("reg.example:5000") == ("reg.example:5000",)
    assert registry_names("INDEX.docker.io") == ("docker.io", "docker.io:443")
    assert registry_names("[::1]") == ("[::1]", "[::1]:443")
    assert registry_names("[::1]:5000") == ("[::1]:5000",)


@pytest.mark.parametrize("registry", ["REGISTRY.corp.example", "registry.corp.example:443"])
def test_a_spelling_of_the_registry_cannot_escape_its_pin(sim: SimServer, client: Client,
                                                          tmp_path: Path,
                                                          registry: str) -> None:
    """The trust server has a root for the other spelling (a separate GUN to notary) that
    trust on first use would take: the pin for the registry applies to it."""
    r = sim.add(SimRepo(f"{registry}/platform/base"))
    r.sign_tag("1", D1)
    r.publish()
    with pytest.raises(RootError, match="not the pinned root"):
        client(policy=policies(tmp_path, RULES, "")).resolve(f"{r.gun}:1")
