"""The wheel and the sdist: built by `python -m build` (the wheel from the sdist, as PyPA
tools do), checked by `twine check --strict`, and the wheel installed into a fresh virtualenv
and run from there."""

from __future__ import annotations

import email.parser
import json
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from tests.checkout import ROOT, copy_checkout
from tests.cli import trustbuild
from trustbuild._version import __version__

ESSENTIAL_IN_SDIST = ["LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", "noxfile.py",
                      "action.yml", ".pre-commit-hooks.yaml", "Dockerfile", ".dockerignore",
                      "docs/guide.md", "docs/examples/orchestrator.py", "trustbuild/py.typed",
                      "tests/conftest.py", "tests/stack/services.py",
                      "fixtures/buildkit-dockerfile-cases.json", "demo/run.py"]
NOT_IN_SDIST = {".gitignore"}  # git's own file; everything else tracked ships


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{argv} exited {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`python -m build` of a copy of this tree (the build leaves nothing in the tree)."""
    source = copy_checkout(tmp_path_factory.mktemp("source") / "trustbuild")
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, source)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(out.iterdir())
    return Dist(wheels[0], sdists[0])


def test_twine_check_passes_strict(dist: Dist) -> None:
    output = run(sys.executable, "-m", "twine", "check", "--strict", dist.wheel, dist.sdist)
    assert output.count("PASSED") == 2, output


def sdist_files(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as tar:
        top = f"trustbuild-{__version__}/"
        return {m.name.removeprefix(top) for m in tar.getmembers() if m.isfile()}


def test_sdist_holds_the_whole_project(dist: Dist) -> None:
    files = sdist_files(dist.sdist)
    assert [f for f in ESSENTIAL_IN_SDIST if f not in files] == []
    assert [f for f in files if f.endswith((".pyc", ".pyo"))] == []


def test_sdist_holds_every_tracked_file(dist: Dist) -> None:
    """Every file git tracks ships (the sdist is built from this tree's files, so files added
    and not yet committed count too)."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout (an unpacked sdist?): no list of tracked files")
    tracked = {f for f in listed.stdout.splitlines() if (ROOT / f).is_file()}
    assert sorted(tracked - sdist_files(dist.sdist) - NOT_IN_SDIST) == []


def wheel_metadata(wheel: Path) -> tuple[list[str], Message, str]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = f"trustbuild-{__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    return names, metadata, entry_points


def _normal(requirement: str) -> str:
    """A requirement as packaging writes it (specifiers in one order)."""
    from packaging.requirements import Requirement

    return str(Requirement(requirement))


def test_wheel_holds_the_package_its_data_and_metadata(dist: Dist) -> None:
    names, metadata, entry_points = wheel_metadata(dist.wheel)
    info = f"trustbuild-{__version__}.dist-info/"
    assert [n for n in names if not n.startswith(("trustbuild/", info))] == []
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "trustbuild").rglob("*.py")}
    assert sorted(modules - set(names)) == []
    assert "trustbuild/py.typed" in names and f"{info}licenses/LICENSE" in names
    assert metadata["Name"] == "trustbuild" and metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = [r for r in metadata.get_all("Requires-Dist", []) if "extra ==" not in r]
    assert sorted(map(_normal, plain)) == sorted(map(_normal, project["dependencies"]))
    assert "trustbuild = trustbuild._internal.cli:main" in entry_points


def test_wheel_installs_into_a_fresh_venv_and_runs(dist: Dist, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        dist.wheel)
    # from elsewhere than this tree, so only the installed package can answer
    assert run(bin_dir / "trustbuild", "--version", cwd=tmp_path).strip() == \
        f"trustbuild, version {__version__}"
    help_text = run(bin_dir / "trustbuild", "--help", cwd=tmp_path)
    assert all(c in help_text for c in ("build", "check", "pin", "refs", "inspect", "policy"))
    where = run(bin_dir / "python", "-c", "import trustbuild; print(trustbuild.__file__)",
                cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(env_dir)


# -- the container image's Dockerfile (built with trustbuild by the demo) ---------------------

PYTHON = "registry.example.com/python:3.12"
DISTROLESS = "registry.example.com/distroless/python3:1"


@pytest.mark.parametrize("buildkit", ["1", "0"])
@pytest.mark.parametrize(("args", "bases"), [
    ([f"PYTHON_IMAGE={PYTHON}"], [PYTHON, PYTHON]),
    ([f"PYTHON_IMAGE={PYTHON}", f"RUNTIME_IMAGE={DISTROLESS}"], [PYTHON, DISTROLESS]),
])
def test_image_builds_on_exactly_the_bases_its_build_args_name(args: list[str],
                                                               bases: list[str],
                                                               buildkit: str) -> None:
    build_args = [word for arg in args for word in ("--build-arg", arg)]
    result = trustbuild("refs", "--format", "json", *build_args, str(ROOT),
                        env={"DOCKER_BUILDKIT": buildkit})
    assert result.code == 0, result.err
    assert [i["reference"] for i in json.loads(result.out)["images"]] == bases


def test_image_has_no_default_base() -> None:
    """No base is assumed (Docker Hub least of all): without PYTHON_IMAGE the Dockerfile is
    an error naming it."""
    result = trustbuild("refs", str(ROOT), env={"DOCKER_BUILDKIT": "1"})
    assert result.code == 3
    assert "${PYTHON_IMAGE}" in result.err
