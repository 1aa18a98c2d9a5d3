"""The trust policy: files, validation, precedence, and its effects on the client (simulator)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.notarysim.keys import METHODS, SimKey
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer
from trustbuild._internal import output
from trustbuild._internal.dockerfile import BuildOptions
from trustbuild._internal.notary.client import TrustClient
from trustbuild._internal.output import policy_rows
from trustbuild._internal.plan import Dockerfile, Status, check_dockerfile
from trustbuild._internal.policy import effective_for, load, parse_duration
from trustbuild._internal.reference import parse_normalized
from trustbuild.errors import PolicyError, PolicyRefusal, RootError

D1 = hashlib.sha256(b"one").hexdigest()
D2 = hashlib.sha256(b"two").hexdigest()
REG = "reg.example:5000"
EMPTY_ENV: dict[str, str] = {"HOME": "/nonexistent"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- files and validation --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("[trust]\nmode = 'enforce'\nsurprise = 1\n", "unknown key trust.surprise"),
    ("[trust]\ntofu = 'no'\n", "trust.tofu must be true or false, not str"),
    ("[trust]\nmode = 'lenient'\n", "trust.mode must be one of enforce, warn"),
    ("[trust]\ngrace = '2 hours'\n", "trust.grace must be a duration"),
    ("[[repository]]\nmatch = 'reg/[ab]'\n", "bad glob 'reg/[ab]'"),
    ("[[repository]]\nroot_keys = []\n", "repository[0].match is required"),
    ("[[repository]]\nmatch = 'a/*'\nroot_keys = ['abc']\n", "expected 64 lowercase hex"),
    ("[[repository]]\nmatch = 'a/*'\nsigners = ['Bad Role']\n", "is not a role name"),
    ("[[repository]]\nmatch = 'a/*'\nsigner_keys = {qa = []}\n", "which is not in signers"),
    ("[[server]]\nregistry = 'r'\nurl = 'http://x'\n", "must be an https:// URL"),
    ("[[server]]\nregistry = 'r'\nca = 'missing.pem'\n", "not found"),
    ("[[server]]\nregistry = 'r'\nclient_cert = 'c.pem'\n", "go together"),
    ("[[exception]]\nmatch = 'x'\nwhy = 'because'\n", "unknown key exception[0].why"),
    ("[[server]]\nregistry = 5\n", "server[0].registry must be a string"),
    ("server = 'x'\n", "server must be a list"),
    ("not toml at all [\n", "not valid TOML"),
])
def test_bad_files_name_file_key_and_expectation(tmp_path: Path, text: str,
                                                  message: str) -> None:
    write(tmp_path / "c.pem", "x")
    config = write(tmp_path / "policy.toml", text)
    with pytest.raises(PolicyError) as caught:
        load(config=str(config), env=EMPTY_ENV)
    assert message in str(caught.value)
    assert str(config) in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load(config=str(tmp_path / "absent.toml"), env=EMPTY_ENV)


def test_precedence_config_then_project_then_user(tmp_path: Path) -> None:
    """With the user's opt-in, a project's policy is read as one of the user's files."""
    user = write(tmp_path / "xdg/trustbuild/config.toml",
                 "[trust]\nmode = 'warn'\noffline = true\nproject_policy = 'trusted'\n"
                 "[[server]]\nregistry = 'reg.example*'\nurl = 'https://user.example'\n")
    project = write(tmp_path / "ctx/.trustbuild.toml",
                    "[trust]\nmode = 'enforce'\n"
                    "[[server]]\nregistry = 'reg.example:5000'\nurl = 'https://proj.example'\n")
    explicit = write(tmp_path / "explicit.toml", "[trust]\ngrace = '1d12h'\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    policy = load(config=str(explicit), context=str(tmp_path / "ctx"), env=env)
    assert policy.files == [str(explicit), str(project), str(user)]
    assert (policy.mode.value, policy.mode.source) == ("enforce", str(project))
    assert (policy.offline.value, policy.offline.source) == (True, str(user))
    assert policy.grace.value == timedelta(days=1, hours=12)
    ref = parse_normalized(f"{REG}/app:1")
    assert policy.server_for(ref, {}).url == "https://proj.example"
    assert policy.server_for(parse_normalized("reg.example:6000/a"), {}).url == \
        "https://user.example"
    # docker's variable wins where docker defines it
    assert policy.server_for(ref, {"DOCKER_CONTENT_TRUST_SERVER": "https://env.example"}
                             ).url == "https://env.example"
    shown = policy_rows(effective_for(policy, ref, {}))
    assert shown["server"].endswith(f"[{project}]") and shown["mode"].startswith("enforce")


def test_globs() -> None:
    from trustbuild._internal.policy import Glob

    g = Glob.parse("reg.example:5000/platform/*", "t")
    assert g.matches("reg.example:5000/platform/base")
    assert not g.matches("reg.example:5000/platform/team/base")
    assert Glob.parse("reg.example:5000/**", "t").matches("reg.example:5000/a/b/c")
    assert parse_duration("90s", "t") == timedelta(seconds=90)


# -- effects, on the simulator ---------------------------------------------------------------

def fresh(config: Path, name: str) -> Path:
    """Another docker config dir (empty trust cache) trusting the simulator's CA."""
    import shutil

    target = config.parent / name
    shutil.copytree(config / "tls", target / "tls")
    return target


def client_with(sim: SimServer, config: Path, tmp_path: Path, policy_text: str) -> TrustClient:
    policy_file = write(tmp_path / "policy.toml", policy_text)
    env = {"DOCKER_CONTENT_TRUST_SERVER": sim.url, "HOME": "/nonexistent"}
    return TrustClient(docker_config=config, env=env,
                       policy=load(config=str(policy_file), env=env))


def published(sim: SimServer, name: str, **kw: Any) -> SimRepo:
    r = sim.add(SimRepo(f"{REG}/{name}", **kw))
    r.sign_tag("1", D1)
    r.publish()
    return r


def test_root_pin_by_key_id(sim: SimServer, config: Path, tmp_path: Path) -> None:
    r = published(sim, "pinned")
    root_key = r.keys["root"][0]
    rule = f"[[repository]]\nmatch = '{REG}/pinned'\nroot_keys = ['{root_key.keyid}']\n"
    good = client_with(sim, config, tmp_path, rule)
    assert good.resolve(f"{r.gun}:1").digest == f"sha256:{D1}"
    other = "ab" * 32
    bad = client_with(sim, fresh(config, "fresh"), tmp_path,
                      f"[[repository]]\nmatch = '{REG}/*'\nroot_keys = ['{other}']\n")
    with pytest.raises(RootError) as caught:
        bad.resolve(f"{r.gun}:1")
    assert other in str(caught.value) and "not the pinned root" in str(caught.value)


def test_pinned_root_also_binds_a_cached_root(sim: SimServer, config: Path,
                                              tmp_path: Path) -> None:
    r = published(sim, "cachedpin")
    TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url}
                ).resolve(f"{r.gun}:1")
    pinned = client_with(sim, config, tmp_path,
                         f"[[repository]]\nmatch = '{r.gun}'\nroot_keys = ['{'cd' * 32}']\n")
    with pytest.raises(RootError, match="not the pinned root"):
        pinned.resolve(f"{r.gun}:1")


def test_root_pin_by_certificate_and_by_ca(sim: SimServer, config: Path,
                                           tmp_path: Path) -> None:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Platform root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=9))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    gun = f"{REG}/byca"
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gun)]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    import base64

    pem = leaf.public_bytes(serialization.Encoding.PEM)
    root_key = SimKey("ecdsa-x509", leaf_key, base64.b64encode(pem).decode(),
                      METHODS["ecdsa-x509"])
    r = sim.add(SimRepo(gun))
    r.replace_root_key(root_key)
    r.sign_tag("1", D1)
    r.publish()
    write(tmp_path / "ca.pem", ca.public_bytes(serialization.Encoding.PEM).decode())
    write(tmp_path / "root.pem", pem.decode())
    by_ca = client_with(sim, config, tmp_path,
                        f"[[repository]]\nmatch = '{gun}'\nroot_ca = 'ca.pem'\n")
    assert by_ca.resolve(f"{gun}:1").role == "targets"
    by_cert = client_with(sim, fresh(config, "2"), tmp_path,
                          f"[[repository]]\nmatch = '{gun}'\nroot_cert = 'root.pem'\n")
    assert by_cert.resolve(f"{gun}:1").role == "targets"
    other = published(sim, "notbyca")
    wrong = client_with(sim, fresh(config, "3"), tmp_path,
                        f"[[repository]]\nmatch = '{REG}/**'\nroot_ca = 'ca.pem'\n")
    with pytest.raises(RootError, match="pinned CA"):
        wrong.resolve(f"{other.gun}:1")


def test_tofu_off_refuses_unpinned_repositories(sim: SimServer, config: Path,
                                                tmp_path: Path) -> None:
    r = published(sim, "notofu")
    c = client_with(sim, config, tmp_path, "[trust]\ntofu = false\n")
    with pytest.raises(RootError, match="trust on first use is disabled"):
        c.resolve(f"{r.gun}:1")


@pytest.fixture()
def two_signers(sim: SimServer) -> SimRepo:
    r = sim.add(SimRepo(f"{REG}/signers"))
    r.delegate("targets/releases")
    r.delegate("targets/qa")
    r.sign_tag("one", D1, role="targets/releases")
    for role in ("targets/releases", "targets/qa"):
        r.sign_tag("both", D1, role=role)
    r.sign_tag("diff", D1, role="targets/releases")
    r.sign_tag("diff", D2, role="targets/qa")
    r.publish()
    return r


def test_required_signers(sim: SimServer, config: Path, tmp_path: Path,
                          two_signers: SimRepo) -> None:
    gun = two_signers.gun
    c = client_with(sim, config, tmp_path,
                    f"[[repository]]\nmatch = '{gun}'\nsigners = ['releases', 'qa']\n")
    with pytest.raises(PolicyRefusal, match="targets/qa has not signed one"):
        c.resolve(f"{gun}:one")
    got = c.resolve(f"{gun}:both")
    assert got.digest == f"sha256:{D1}" and any("targets/qa" in n for n in got.notes)
    with pytest.raises(PolicyRefusal, match="one digest from every signer"):
        c.resolve(f"{gun}:diff")


def test_required_signer_keys(sim: SimServer, config: Path, tmp_path: Path,
                              two_signers: SimRepo) -> None:
    gun = two_signers.gun
    qa_key = two_signers.delegations["targets/qa"].keys[0].keyid
    ok = client_with(sim, config, tmp_path,
                     f"[[repository]]\nmatch = '{gun}'\nsigners = ['qa']\n"
                     f"signer_keys = {{qa = ['{qa_key}']}}\n")
    assert ok.resolve(f"{gun}:both").role == "targets/releases"
    wrong = client_with(sim, config, tmp_path,
                        f"[[repository]]\nmatch = '{gun}'\nsigners = ['qa']\n"
                        f"signer_keys = {{qa = ['{'e' * 64}']}}\n")
    with pytest.raises(PolicyRefusal, match="is not signed by key"):
        wrong.resolve(f"{gun}:both")


def test_exceptions_and_warn_mode_in_reports(sim: SimServer, config: Path,
                                             tmp_path: Path) -> None:
    signed = published(sim, "signed")
    text = (f"FROM {signed.gun}:1\nCOPY --from={REG}/unsigned/tool:2 / /t\n"
            f"COPY --from={REG}/elsewhere:3 / /e\n")
    c = client_with(sim, config, tmp_path,
                    f"[[exception]]\nmatch = '{REG}/unsigned/*'\nreason = 'vendor tool'\n")
    source = Dockerfile(text, None, "Dockerfile")
    report = check_dockerfile(source, BuildOptions(), c.resolve_many, policy=c.policy,
                              onbuild=lambda image, platforms: [])  # no triggers
    status = {str(v.pull.reference): v.status for v in report.verdicts}
    assert status[f"{REG}/unsigned/tool:2"] is Status.ALLOWED
    assert status[f"{REG}/elsewhere:3"] is Status.REFUSED
    assert not report.ok and not report.passes
    allowed = next(v for v in report.verdicts if v.status is Status.ALLOWED)
    assert "vendor tool" in (allowed.message or "")
    warn = client_with(sim, config, tmp_path, "[trust]\nmode = 'warn'\n")
    report = check_dockerfile(source, BuildOptions(), warn.resolve_many, policy=warn.policy,
                              onbuild=lambda image, platforms: [])
    assert report.passes and not report.ok and output.check_json(report)["mode"] == "warn"
    pinned = report.pinned().text
    assert f"FROM {signed.gun}:1@sha256:{D1}" in pinned
    assert f"COPY --from={REG}/elsewhere:3 / /e" in pinned  # left as written, reported


def test_offline_grace_is_explicit_and_reported(sim: SimServer, config: Path,
                                                tmp_path: Path) -> None:
    r = sim.add(SimRepo(f"{REG}/grace"))
    r.expires["timestamp"] = datetime.now(UTC) + timedelta(hours=1)
    r.sign_tag("1", D1)
    r.publish()
    TrustClient(docker_config=config, env={"DOCKER_CONTENT_TRUST_SERVER": sim.url}
                ).resolve(f"{r.gun}:1")
    later = datetime.now(UTC) + timedelta(hours=3)
    policy_file = write(tmp_path / "p.toml", "[trust]\noffline = true\ngrace = '1d'\n")
    env = {"DOCKER_CONTENT_TRUST_SERVER": sim.url}
    c = TrustClient(docker_config=config, env=env, clock=lambda: later,
                    policy=load(config=str(policy_file), env=env))
    got = c.resolve(f"{r.gun}:1")
    assert got.offline and any("grace period" in n for n in got.notes)
    strict = TrustClient(docker_config=config, env=env, clock=lambda: later, offline=True)
    from trustbuild.errors import ExpiredError

    with pytest.raises(ExpiredError):
        strict.resolve(f"{r.gun}:1")


def test_client_certificate_for_the_server_from_policy(tls: Any, tmp_path: Path) -> None:
    """mTLS: the server wants a client certificate; the policy's server rule supplies it."""
    from tests.notarysim.server import make_tls, serving
    from trustbuild.errors import NetworkError

    client_tls = make_tls(tmp_path / "client-tls")
    with serving(SimServer(tls, client_ca=client_tls.ca_cert)) as sim:
        r = published(sim, "mtls")
        config = tmp_path / "docker"
        config.mkdir()
        env = {"HOME": "/nonexistent"}
        rule = (f"[[server]]\nregistry = '{REG}'\nurl = '{sim.url}'\nca = '{tls.ca_cert}'\n")
        without = write(tmp_path / "without.toml", rule)
        c = TrustClient(docker_config=config, env=env, policy=load(config=str(without), env=env))
        with pytest.raises(NetworkError):  # the handshake is refused without a certificate
            c.resolve(f"{r.gun}:1")
        with_cert = write(tmp_path / "with.toml", rule + f"client_cert = '{client_tls.cert}'\n"
                          f"client_key = '{client_tls.key}'\n")
        c = TrustClient(docker_config=config, env=env,
                        policy=load(config=str(with_cert), env=env))
        assert c.resolve(f"{r.gun}:1").digest == f"sha256:{D1}"


def test_no_home_means_no_user_policy_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Containers run under an arbitrary UID may have neither HOME nor a passwd entry."""
    from trustbuild._internal.policy import user_config_path

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert user_config_path({}) is None
    assert user_config_path({"HOME": "/h"}) == Path("/h/.config/trustbuild/config.toml")
