"""The main job end to end on a self-contained local stack (README's first command).

Starts dockerd, a registry and notary-server on loopback, publishes a signed base image with
the real docker CLI (DOCKER_CONTENT_TRUST=1 docker push), then shows what trustbuild sees in the
demo app's Dockerfile.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack.publisher import Publisher  # noqa: E402
from tests.stack.services import running_stack  # noqa: E402


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tb-demo-") as tmp, running_stack() as stack:
        say(f"local stack: registry {stack.registry}, notary-server {stack.notary_url}")
        publisher = Publisher(stack, Path(tmp) / "publisher")
        base = publisher.sign_legacy("demo/base", "1")
        say(f"published and signed {base.ref} -> {base.digest} (role {base.role})")
        user = stack.docker_config(Path(tmp) / "user-docker")
        env = stack.env(user)
        app = ROOT / "demo" / "app"
        say(f"trustbuild refs {app} --build-arg REGISTRY={stack.registry}")
        result = subprocess.run(
            [sys.executable, "-m", "trustbuild", "refs", str(app),
             "--build-arg", f"REGISTRY={stack.registry}"], env=env, check=False)
        if result.returncode != 0:
            return result.returncode
    say("done: the stack is stopped and its files removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
