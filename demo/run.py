"""The main job end to end on a self-contained local stack (README's first command).

1. start dockerd, a registry and notary-server on loopback (tests/stack);
2. publish a base image and sign it with the real docker CLI (DOCKER_CONTENT_TRUST=1 push);
3. `trustbuild -t demo/app .` on the demo app: every image is verified, the build runs on a
   Dockerfile pinned to the signed digest;
4. run the app;
5. show a Dockerfile on an unsigned tag refused with "No trust data for <tag>", docker never
   started;
6. build trustbuild's own image (the repository's Dockerfile) with trustbuild: on a Python base
   made offline from this machine's Python (demo/pythonbase.py) and signed in
   targets/releases, from wheels made here, then run its `trustbuild --version`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.pythonbase import IMAGE_CHANGES, python_rootfs  # noqa: E402
from tests.checkout import copy_checkout  # noqa: E402
from tests.stack.publisher import Publisher  # noqa: E402
from tests.stack.services import DOCKER_CLI, Stack, running_stack  # noqa: E402
from trustbuild._version import __version__  # noqa: E402


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def trustbuild(args: list[str], cwd: Path, env: dict[str, str]) -> int:
    print(f"$ trustbuild {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "trustbuild", *args], cwd=cwd, env=env,
                          check=False).returncode


def demo(stack: Stack, tmp: Path) -> int:
    say(f"local stack: registry {stack.registry}, notary-server {stack.notary_url}")
    publisher = Publisher(stack, tmp / "publisher")
    base = publisher.sign_legacy("demo/base", "1")
    unsigned = publisher.push_unsigned("demo/unsigned", "1")
    say(f"signed {base.ref} -> {base.digest} (role {base.role}); pushed {unsigned.ref} "
        "unsigned")

    env = {**stack.env(stack.docker_config(tmp / "user-docker")),
           "TRUSTBUILD_DOCKER": DOCKER_CLI, "DOCKER_BUILDKIT": "1", "PYTHONPATH": str(ROOT)}
    app = tmp / "app"
    app.mkdir()
    template = (ROOT / "demo" / "app" / "Dockerfile.in").read_text()
    (app / "Dockerfile").write_text(template.replace("@REGISTRY@", stack.registry))

    say("build the demo app on its signed base")
    if trustbuild(["-t", "demo/app", "."], app, env) != 0:
        return 1
    say("run it")
    run = subprocess.run([DOCKER_CLI, "run", "--rm", "demo/app"], env=env, check=False,
                         capture_output=True, text=True)
    print(run.stdout.strip() or run.stderr.strip())
    if run.returncode != 0 or base.ref not in run.stdout:
        return 1

    say("a Dockerfile on an unsigned tag is refused before docker starts")
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "Dockerfile").write_text(f"FROM {unsigned.ref}\nRUN echo never built\n")
    code = trustbuild(["-t", "demo/bad", "."], bad, env)
    print(f"(exit status {code})")
    if code != 4:
        return 1
    return own_image(publisher, env, tmp)


def own_image(publisher: Publisher, env: dict[str, str], tmp: Path) -> int:
    """Step 6: trustbuild's Dockerfile, built by trustbuild on a signed Python base."""
    tag = f"{sys.version_info.major}.{sys.version_info.minor}"
    say(f"make a Python {tag} base image from this machine's Python ({sys.base_prefix}) and "
        "sign it in targets/releases")
    rootfs = python_rootfs(tmp / "python-rootfs.tar")
    pushed = publisher.push_rootfs("demo/python", tag, rootfs, IMAGE_CHANGES)
    python = publisher.sign_delegation("demo/python", tag, image=pushed)
    print(f"signed {python.ref} -> {python.digest} (role {python.role}, "
          f"{rootfs.stat().st_size // 2**20} MB root filesystem)")

    say("wheels of trustbuild and its dependencies, made here: the image build reads no network")
    context = tmp / "trustbuild-image"
    context.mkdir()
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copyfile(ROOT / name, context / name)
    source = copy_checkout(tmp / "source")  # the build leaves nothing in this tree
    wheels = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                             "--disable-pip-version-check", "--wheel-dir",
                             str(context / "wheelhouse"), str(source)],
                            check=False, capture_output=True, text=True)
    if wheels.returncode != 0:
        print(wheels.stdout + wheels.stderr)
        return 1
    print(" ".join(sorted(p.name for p in (context / "wheelhouse").iterdir())))

    say("build trustbuild's own Dockerfile with trustbuild")
    image = f"demo/trustbuild:{__version__}"
    if trustbuild(["-t", image, "--build-arg", f"PYTHON_IMAGE={python.ref}", "."], context,
                  env) != 0:
        return 1
    say("run the image")
    print(f"$ docker run --rm {image} --version")
    run = subprocess.run([DOCKER_CLI, "run", "--rm", image, "--version"], env=env, check=False,
                         capture_output=True, text=True)
    print(run.stdout.strip() or run.stderr.strip())
    return 0 if run.returncode == 0 and __version__ in run.stdout else 1


def main() -> int:
    if os.geteuid() != 0:
        print("the demo starts dockerd and installs Debian packages: run it as root",
              file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tb-demo-"))
    try:
        with running_stack() as stack:
            code = demo(stack, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say("demo finished: " + ("OK" if code == 0 else "FAILED") +
        "; the stack is stopped and its files removed")
    return code


if __name__ == "__main__":
    sys.exit(main())
