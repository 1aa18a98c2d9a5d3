"""Secrets and settings that could loosen the gate from outside the policy: docker's own
content-trust flag, credentials in proxy and trust server URLs, a project's pin files.  Each
test is a case a review found open before."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.cli import trustbuild
from tests.conftest import ExampleRegistry
from tests.notarysim.server import SimServer
from tests.test_cli_check import base_context


def fake_docker(tmp_path: Path, client: str = "20.10.24",
                server: str = "20.10.24") -> tuple[str, Path]:
    """A docker CLI (classic builder) that answers version/inspect and records `build` argv."""
    log = tmp_path / "docker-argv.txt"
    script = tmp_path / "fakedocker"
    script.write_text(f"""#!/bin/sh
if [ "$1" = version ]; then echo "{client}|{server}"; exit 0; fi
if [ "$1" = buildx ]; then exit 1; fi
if [ "$1" = image ] && [ "$2" = inspect ]; then
  case "$4" in *OnBuild*) echo null;; *) echo linux/amd64;; esac; exit 0; fi
if [ "$1" = build ]; then
  for a in "$@"; do printf '%s\\n' "$a" >> {log}; done
  echo ENV >> {log}; env >> {log}
  exit 0
fi
exit 1
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), log


def test_disable_content_trust_is_refused_in_any_form(sim: SimServer, config: Path,
                                                      tmp_path: Path,
                                                      example_registry: ExampleRegistry
                                                      ) -> None:
    """`--disable-content-trust=false` turns docker's own (classic) trust path back on, which
    would resolve the pinned tags again by docker's rules: refused, docker never runs."""
    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:1\n", example_registry)
    docker, log = fake_docker(tmp_path)
    env["TRUSTBUILD_DOCKER"] = docker
    for word in ("--disable-content-trust=false", "--disable-content-trust=true",
                 "--disable-content-trust"):
        result = trustbuild("build", word, str(ctx), env=env)
        assert result.code == 2 and "--disable-content-trust is refused" in result.err
    assert not log.exists()  # docker was never asked to build


def test_a_proxy_password_with_url_characters_is_never_printed(tmp_path: Path) -> None:
    """A proxy password that is not percent-encoded (`/`, `?`, `#` in it) is not where a URL
    parser looks for one: the message hides all before the last '@'."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM reg.example/base:1\n")
    results = []
    for secret in ("s3cr/etPW", "s3cr?etPW", "s3cr#etPW"):
        env = {"HTTPS_PROXY": f"http://ci:{secret}@proxy.example:3128",
               "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None,
               "DOCKER_CONFIG": str(tmp_path / "dc"), "XDG_CONFIG_HOME": str(tmp_path / "x")}
        for fmt in ("text", "json"):
            r = trustbuild("check", "-v", "--format", fmt, str(ctx), env=env)
            results.append((secret, fmt, r.code, r.out + r.err))
    leaks = [(s, f, c) for s, f, c, o in results if "s3cr" in o or "etPW" in o]
    assert not leaks, leaks
    assert {c for _, _, c, _ in results} == {5}  # the proxy setting is unusable: exit 5


def test_project_pin_files_stay_in_the_context(sim: SimServer, config: Path, tmp_path: Path,
                                               example_registry: ExampleRegistry) -> None:
    """security.md: the build context cannot make trustbuild read files outside it.  A
    project's [[repository]] root_cert path leading out is refused before anything is read,
    and a pinned certificate in the context is read only up to the small-file bound."""
    ctx, env = base_context(sim, config, tmp_path, "FROM reg.example/base:1\n", example_registry)
    outside = tmp_path / "outside-secret.pem"
    outside.write_text("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
    big = tmp_path / "huge.bin"
    with big.open("wb") as f:  # sparse, 64 MiB: far over the 1 MiB a context file may be
        f.truncate(64 * 1024 * 1024)
    seen = {}
    (ctx / "link.pem").symlink_to(outside)
    for name, target in (("abs", str(outside)), ("dotdot", "../outside-secret.pem"),
                         ("huge", str(big)), ("symlink", "link.pem")):
        (ctx / ".trustbuild.toml").write_text(
            f'[[repository]]\nmatch = "**"\nroot_cert = ["{target}"]\n')
        r = trustbuild("check", "--format", "json", str(ctx), env=env)
        seen[name] = (r.code, r.out + r.err)
    bad = {k: v for k, v in seen.items() if not (v[0] == 2 and "outside" in v[1])}
    assert not bad, bad
    big_inside = ctx / "big.pem"
    with big_inside.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    for target in ("big.pem",):
        (ctx / ".trustbuild.toml").write_text(
            f'[[repository]]\nmatch = "**"\nroot_cert = ["{target}"]\n')
        r = trustbuild("check", "--format", "json", str(ctx), env=env)
        assert r.code == 5 and "larger than" in r.out, (r.code, r.out, r.err)


def test_trust_server_url_credentials_are_refused_unprinted(tmp_path: Path) -> None:
    """Credentials in DOCKER_CONTENT_TRUST_SERVER's URL would be printed wherever the server
    is named: a usage error that does not repeat them."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM reg.example/base:1\n")
    env = {"DOCKER_CONTENT_TRUST_SERVER": "https://ci:hunter2@127.0.0.1:1",
           "TRUSTBUILD_DOCKER": "/nonexistent/docker", "DOCKER_BUILDKIT": None,
           "DOCKER_CONFIG": str(tmp_path / "dc"), "XDG_CONFIG_HOME": str(tmp_path / "x")}
    r = trustbuild("check", "-v", "--format", "json", str(ctx), env=env)
    assert "hunter2" not in r.out + r.err
    assert r.code == 2 and "must not hold credentials" in r.err
