"""``trustbuild scan`` at repository scale (``nox -s bench_scan``; never part of the tests).

Brings up the local stack, signs 100 images (25 repositories, 4 tags each) on its
notary-server, generates a repository of 500 Dockerfiles (multi-stage, ARG-driven,
``COPY --from``) drawing on them, and prints side by side, with the trust cache warm:

1. ``trustbuild scan`` of the repository;
2. ``trustbuild check`` of one Dockerfile that pulls all 100 images (target: scan <= 3x);
3. ``trustbuild check`` run once per Dockerfile (target: scan <= 0.05x);
4. the scan's peak memory (target: <= 200 MB).

Environment: ``BENCH_RUNS`` (default 5) runs per median; ``BENCH_FILES`` (500),
``BENCH_REPOS`` (25) and ``BENCH_TAGS`` (4) size the repository.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack.publisher import Publisher  # noqa: E402
from tests.stack.services import Stack, running_stack  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FILES = int(os.environ.get("BENCH_FILES", "500"))
REPOS = int(os.environ.get("BENCH_REPOS", "25"))
TAGS = int(os.environ.get("BENCH_TAGS", "4"))
TRUSTBUILD = shutil.which("trustbuild") or "trustbuild"


def sign_images(publisher: Publisher) -> list[str]:
    """REPOS x TAGS signed tags, staged per repository and published once each (the
    digests are made up: a check never pulls)."""
    images = []
    for r in range(REPOS):
        name = f"bench/base{r:02d}"
        gun = publisher.gun(name)
        publisher.ensure_initialised(name)
        for t in range(TAGS):
            digest = hashlib.sha256(f"{gun}:{t}".encode()).hexdigest()
            publisher.notary("addhash", gun, f"v{t}", "1024", "--sha256", digest)
            images.append(f"{gun}:v{t}")
        publisher.notary("publish", gun)
    return images


def dockerfile(rng: random.Random, images: list[str], first: int) -> str:
    """Multi-stage, ARG-driven, with COPY --from a stage and from an image."""
    base, tool, final, extra = (images[(first + k) % len(images)] if k == 0 else
                                rng.choice(images) for k in range(4))
    tool_repo, tool_tag = tool.rsplit(":", 1)
    return (f"ARG BASE={base}\n"
            f"ARG TOOL_TAG={tool_tag}\n"
            "FROM ${BASE} AS build\n"
            "WORKDIR /src\n"
            "COPY . .\n"
            "RUN make\n"
            f"FROM {tool_repo}:${{TOOL_TAG}} AS tools\n"
            "RUN true\n"
            f"FROM {final}\n"
            "ARG BASE\n"
            "COPY --from=build /src/out /app\n"
            "COPY --from=tools /usr/bin/tool /usr/bin/tool\n"
            f"COPY --from={extra} /etc/extra /etc/extra\n"
            'CMD ["/app"]\n')


def make_repository(root: Path, images: list[str]) -> list[Path]:
    rng = random.Random(17)
    names = ("Dockerfile", "app.Dockerfile", "Dockerfile.prod", "Containerfile")
    files = []
    for i in range(FILES):
        path = root / f"team{i % 20:02d}" / f"svc{i:03d}" / names[i % len(names)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dockerfile(rng, images, i))
        files.append(path)
    (root / ".gitignore").write_text("node_modules/\n")
    return files


def all_images(root: Path, images: list[str]) -> Path:
    ctx = root / "all"
    ctx.mkdir()
    lines = [f"FROM {images[0]}"] + [f"COPY --from={i} /etc/x /x{n}"
                                     for n, i in enumerate(images[1:])]
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    return ctx


def run(argv: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)) -> int:
    """Run and return the peak resident memory (KiB) of the process."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in codes:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err.decode()[-2000:]}")
    return usage.ru_maxrss


def timed(action: list[str], env: dict[str, str], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(action, env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(stack: Stack, tmp: Path) -> bool:
    publisher = Publisher(stack, tmp / "publisher")
    start = time.perf_counter()
    images = sign_images(publisher)
    print(f"signed {len(images)} images in {REPOS} repositories "
          f"({time.perf_counter() - start:.0f} s)")
    repo = tmp / "repo"
    files = make_repository(repo, images)
    one = all_images(tmp, images)
    config = stack.docker_config(tmp / "consumer")
    env = {**stack.env(config), "DOCKER_BUILDKIT": "1", "TRUSTBUILD_DOCKER": "/nonexistent"}
    scan = [TRUSTBUILD, "scan", "--format", "json", "-o", os.devnull, str(repo)]
    check_all = [TRUSTBUILD, "check", str(one)]

    cold_start = time.perf_counter()
    cold_memory = run(scan, env)  # fills the trust cache
    cold = time.perf_counter() - cold_start
    memory = max(run(scan, env) for _ in range(3))
    scan_time = timed(scan, env)
    check_time = timed(check_all, env)
    start = time.perf_counter()
    for path in files:
        run([TRUSTBUILD, "check", "-f", str(path), str(path.parent)], env)
    per_file = time.perf_counter() - start

    rows = [
        ("trustbuild scan, 500 Dockerfiles, warm (median)", scan_time, ""),
        ("trustbuild scan, empty trust cache (once)", cold, ""),
        ("trustbuild check, 1 Dockerfile with the 100 images (median)", check_time,
         f"scan = {scan_time / check_time:.2f}x  (target <= 3x: "
         f"{'met' if scan_time <= 3 * check_time else 'MISSED'})"),
        (f"trustbuild check once per Dockerfile ({len(files)} runs, once)", per_file,
         f"scan = {scan_time / per_file:.3f}x  (target <= 0.05x: "
         f"{'met' if scan_time <= 0.05 * per_file else 'MISSED'})"),
    ]
    print(f"\n{len(files)} Dockerfiles, {len(images)} distinct signed images, "
          f"{os.cpu_count()} cores\n")
    for label, seconds, note in rows:
        print(f"  {label:<62} {seconds * 1000:>9.0f} ms  {note}")
    mib = memory / 1024
    print(f"  {'trustbuild scan peak memory (max RSS, warm; cold)':<62} {mib:>9.1f} MB  "
          f"cold {cold_memory / 1024:.1f} MB  (target <= 200 MB: "
          f"{'met' if mib <= 200 and cold_memory / 1024 <= 200 else 'MISSED'})")
    return scan_time <= 3 * check_time and scan_time <= 0.05 * per_file and mib <= 200


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tb-bench-scan-") as tmp, \
            running_stack() as stack:
        met = measure(stack, Path(tmp))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
