"""docs/guide.md's GitLab CI job, run as written on the real stack: its `script` under POSIX
`sh -e` (GitLab's shell when the image has no bash; no pipefail there), its `variables`
exported, trustbuild installed from a checkout of the repository (the recipe's
`TRUSTBUILD`), and the CA from a File variable."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.checkout import ROOT, copy_checkout
from tests.stack.catalog import Catalog
from tests.stack.services import Stack

GUIDE = ROOT / "docs" / "guide.md"


def gitlab_job() -> dict[str, Any]:
    section = GUIDE.read_text().split("### GitLab CI", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "docs/guide.md: no yaml block under GitLab CI"
    job: dict[str, Any] = yaml.safe_load(block.group(1))["trust-gate"]
    return job


def test_recipe_has_no_pipe_whose_status_sh_would_lose() -> None:
    """Under `sh` a pipeline's status is its last command's: `check | tee` passed refusals."""
    assert [line for line in gitlab_job()["script"] if re.search(r"[^|]\|[^|]", line)] == []


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("gitlab") / "trustbuild")


@pytest.mark.stack
@pytest.mark.parametrize(("image", "code", "status"), [("releases", 0, "trusted"),
                                                       ("unsigned_tag", 4, "refused")])
def test_gitlab_job_runs_as_written(image: str, code: int, status: str, stack: Stack,
                                    catalog: Catalog, repository: Path,
                                    tmp_path: Path) -> None:
    job = gitlab_job()
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    ref = getattr(catalog, image).ref
    (project / "Dockerfile").write_text(f"FROM {ref}\nRUN true\n")
    env = {k: v for k, v in stack.env(home / ".docker").items() if k != "DOCKER_CONFIG"}
    env.update({k: str(v) for k, v in job["variables"].items()})
    env.update(HOME=str(home), TRUSTBUILD=str(repository), NOTARY_CA=str(stack.notary_ca),
               DOCKER_CONTENT_TRUST_SERVER=stack.notary_url)
    done = subprocess.run(["sh", "-e", "-c", "\n".join(job["script"])], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)

    assert done.returncode == code, done.stdout + done.stderr
    report = json.loads((project / job["artifacts"]["paths"][0]).read_text())
    assert [(i["reference"], i["status"]) for i in report["images"]] == [(ref, status)]
    assert (home / ".docker" / "tls" / stack.notary_hostport / "ca.crt").exists()
    assert "trustbuild:" in done.stderr  # the summary reaches the job log
