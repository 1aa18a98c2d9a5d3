"""docs/api.md's orchestrator example is a real file, and it runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ExampleRegistry
from tests.notarysim.repo import SimRepo
from tests.notarysim.server import SimServer

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = DOCS / "examples" / "orchestrator.py"


def test_the_example_in_the_docs_is_the_tested_file() -> None:
    text = (DOCS / "api.md").read_text()
    [block] = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert block in EXAMPLE.read_text()


def test_the_orchestrator_runs(sim: SimServer, config: Path, tmp_path: Path,
                               example_registry: ExampleRegistry) -> None:
    # the registry holds web-base (its ONBUILD triggers are read there) and an unsigned image
    digest = example_registry.push("web-base", "web")
    example_registry.push("unsigned", "unsigned")
    repo = sim.add(SimRepo("reg.example/web-base"))
    repo.sign_tag("1.4.2", digest)
    repo.publish()
    services = tmp_path / "services"
    for name, dockerfile in [("web", "ARG VERSION\nFROM reg.example/web-base:${VERSION}\n"),
                             ("worker", "FROM reg.example/unsigned:1\n"),
                             ("docs", None)]:
        (services / name).mkdir(parents=True)
        if dockerfile is not None:
            (services / name / "Dockerfile").write_text(dockerfile)
    env = {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_CONTENT_TRUST_SERVER": sim.url,
           "TRUSTBUILD_DOCKER": "/nonexistent/docker", **example_registry.env}
    result = subprocess.run([sys.executable, str(EXAMPLE), str(services), "1.4.2"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "web: ready" in lines and "worker: refused" in lines and "docs: refused" in lines
    assert any(line.startswith("docs: cannot read Dockerfile") for line in lines)
    assert any("worker: reg.example/unsigned:1 (FROM, line 1): no-trust-data" in line
               or "worker: reg.example/unsigned:1 (FROM, line 1): not-signed" in line
               for line in lines), lines
