"""trustbuild measured side by side with the notary and docker CLIs (``nox -s bench``).

Brings up the local stack, publishes 20 signed repositories, and prints medians and ratios:

1. ``trustbuild check`` on Dockerfiles with 1, 5 and 20 images, warm and empty trust dir,
   against the same number of sequential ``notary lookup`` runs (warm and empty trust dir);
2. the library's resolutions per second in one process, one thread and eight;
3. start-up of ``trustbuild --version`` and ``--help``;
4. ``trustbuild build`` against ``docker build`` and ``DOCKER_CONTENT_TRUST=1 docker build``
   (classic builder, everything cached, one image);
5. HTTP requests per resolution.

Targets are checked in the output, never in tests.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack.publisher import Published, Publisher  # noqa: E402
from tests.stack.services import DOCKER_CLI, Stack, running_stack  # noqa: E402
from trustbuild._internal.notary.client import TrustClient  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SIZES = (1, 5, 20)
TRUSTBUILD = shutil.which("trustbuild") or "trustbuild"


def median_seconds(action: Callable[[], object], runs: int = RUNS,
                   before: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


Timed = tuple[Callable[[], object], Callable[[], object] | None]  # action, set-up before it


def interleaved_medians(timed: dict[str, Timed], runs: int = RUNS) -> dict[str, float]:
    """Median seconds of each action, the actions taking turns round by round, so that a
    slow spell of this shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(runs):
        for name, (action, before) in timed.items():
            if before is not None:
                before()
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> None:
    result = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n"
                         f"{result.stderr.decode(errors='replace')[-2000:]}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES TARGET"


class Bench:
    def __init__(self, stack: Stack, tmp: Path) -> None:
        self.stack = stack
        self.tmp = tmp
        self.publisher = Publisher(stack, tmp / "publisher")
        self.template = stack.docker_config(tmp / "template-config")
        self.images: list[Published] = []

    def fresh_config(self, name: str) -> Path:
        target = self.tmp / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.template, target)
        return target

    def env(self, config: Path) -> dict[str, str]:
        return {**self.stack.env(config), "TRUSTBUILD_DOCKER": DOCKER_CLI,
                "DOCKER_BUILDKIT": "0"}

    def publish(self) -> None:
        for i in range(max(SIZES)):
            name = f"bench/r{i:02d}"
            image = self.publisher.sign_legacy(name, "1") if i % 2 == 0 \
                else self.publisher.sign_delegation(name, "1")
            self.images.append(image)

    def dockerfile(self, n: int) -> Path:
        ctx = self.tmp / f"ctx{n}"
        ctx.mkdir(exist_ok=True)
        lines = [f"FROM {self.images[0].ref}"]
        lines += [f"COPY --from={img.ref} /etc/tb-image /m{i}"
                  for i, img in enumerate(self.images[1:n], start=1)]
        (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
        return ctx

    # -- 1. check against notary lookup ------------------------------------------------------

    def check_vs_notary(self) -> dict[int, tuple[float, float, float]]:
        print("\n1. trustbuild check vs sequential `notary lookup` (medians, interleaved, of "
              f"{RUNS} runs)")
        print(f"{'images':>7} {'check warm':>12} {'check cold':>12} {'notary warm':>12} "
              f"{'notary cold':>12} {'warm/notary':>12} {'cold/warm':>10}")
        results = {}
        notary_dir = self.tmp / "notary-trust"
        for n in SIZES:
            ctx = self.dockerfile(n)
            warm = self.fresh_config(f"warm{n}")
            check = [TRUSTBUILD, "check", str(ctx)]
            run(check, self.env(warm))
            cold = self.tmp / f"cold{n}"

            def reset(cold: Path = cold) -> None:
                shutil.rmtree(cold, ignore_errors=True)
                shutil.copytree(self.template, cold)

            lookups = [["notary", "-s", self.stack.notary_url, "-d", str(notary_dir),
                        "--tlscacert", str(self.stack.notary_ca), "lookup", img.repo, img.tag]
                       for img in self.images[:n]]

            notary_env = self.env(warm)

            def notary_all(lookups: list[list[str]] = lookups,
                           env: dict[str, str] = notary_env) -> None:
                for argv in lookups:
                    run(argv, env)

            def empty_notary_dir() -> None:
                shutil.rmtree(notary_dir, ignore_errors=True)

            notary_all()
            got = interleaved_medians({
                "warm": (partial(run, check, self.env(warm)), None),
                "cold": (partial(run, check, self.env(cold)), reset),
                "notary cold": (notary_all, empty_notary_dir),  # leaves the dir warm
                "notary warm": (notary_all, None),
            })
            t_warm, t_cold = got["warm"], got["cold"]
            t_notary, t_notary_cold = got["notary warm"], got["notary cold"]
            results[n] = (t_warm, t_cold, t_notary)
            print(f"{n:>7} {ms(t_warm):>12} {ms(t_cold):>12} {ms(t_notary):>12} "
                  f"{ms(t_notary_cold):>12} {t_warm / t_notary:>12.2f} "
                  f"{t_cold / t_warm:>10.2f}")
        t_warm, t_cold, t_notary = results[max(SIZES)]
        print(f"   target: 20 images warm <= 0.5 x notary: {t_warm / t_notary:.2f} -> "
              f"{verdict(t_warm <= 0.5 * t_notary)}")
        print(f"   target: 20 images cold <= 2 x warm: {t_cold / t_warm:.2f} -> "
              f"{verdict(t_cold <= 2 * t_warm)}")
        return results

    # -- 2. in-process throughput -------------------------------------------------------------

    def throughput(self) -> None:
        print("\n2. library resolutions per second, warm (2 s each)")
        config = self.fresh_config("inproc")
        env = self.env(config)
        refs = [img.ref for img in self.images]
        client = TrustClient(docker_config=config, env=env)
        client.resolve_many(refs)

        def rate(threads: int, make_client: Callable[[], _Resolver]) -> float:
            count = [0] * threads
            stop = time.perf_counter() + 2.0

            def worker(slot: int) -> None:
                c = make_client()
                i = slot
                while time.perf_counter() < stop:
                    c.resolve(refs[i % len(refs)])
                    count[slot] += 1
                    i += 1

            pool = [threading.Thread(target=worker, args=(s,)) for s in range(threads)]
            start = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            return sum(count) / (time.perf_counter() - start)

        shared = rate(1, lambda: client)
        shared8 = rate(8, lambda: client)
        fresh = rate(1, lambda: _FreshEach(config, env))
        fresh8 = rate(8, lambda: _FreshEach(config, env))
        print(f"   one client, metadata verified once per process: {shared:10.0f}/s, "
              f"8 threads {shared8:10.0f}/s")
        print(f"   a new client per resolution (timestamp fetched, chain re-verified from "
              f"the disk cache): {fresh:8.0f}/s, 8 threads {fresh8:8.0f}/s")
        print(f"   target: >= 1000 warm verified resolutions/s: {verdict(shared >= 1000)}")

    # -- 3. start-up ----------------------------------------------------------------------------

    def startup(self) -> None:
        print(f"\n3. start-up (median of {RUNS * 2} runs)")
        env = dict(os.environ)
        base = median_seconds(lambda: run([sys.executable, "-c", "pass"], env), RUNS * 2)
        version = median_seconds(lambda: run([TRUSTBUILD, "--version"], env), RUNS * 2)
        helptext = median_seconds(lambda: run([TRUSTBUILD, "--help"], env), RUNS * 2)
        print(f"   python -c pass {ms(base)}   trustbuild --version {ms(version)}   "
              f"trustbuild --help {ms(helptext)}")
        print(f"   target: --version <= 100 ms: {verdict(version <= 0.1)}")

    # -- 4. build overhead ----------------------------------------------------------------------

    def build_overhead(self) -> None:
        print("\n4. build overhead, classic builder, cached, one image (medians, interleaved, "
              f"of {RUNS} runs)")
        ctx = self.dockerfile(1)
        (ctx / "Dockerfile").write_text(f"FROM {self.images[0].ref}\nRUN true\n")
        config = self.fresh_config("build")
        env = self.env(config)
        plain = [DOCKER_CLI, "build", "-q", "-t", "bench/plain", str(ctx)]
        trusted = {**env, "DOCKER_CONTENT_TRUST": "1"}
        tb = [TRUSTBUILD, "-q", "-t", "bench/tb", str(ctx)]
        for argv, e in ((plain, env), (plain, trusted), (tb, env)):
            run(argv, e)
        got = interleaved_medians({"plain": (lambda: run(plain, env), None),
                                   "dct": (lambda: run(plain, trusted), None),
                                   "trustbuild": (lambda: run(tb, env), None)})
        t_plain, t_dct, t_tb = got["plain"], got["dct"], got["trustbuild"]
        print(f"   docker build {ms(t_plain)}   DOCKER_CONTENT_TRUST=1 docker build "
              f"{ms(t_dct)}   trustbuild build {ms(t_tb)}")
        print(f"   trustbuild adds {ms(t_tb - t_plain)} over docker build "
              f"({ms(t_tb - t_dct)} over docker's own content trust)")
        print(f"   target: <= 100 ms over docker build: {verdict(t_tb - t_plain <= 0.1)}")

    # -- 5. requests ------------------------------------------------------------------------------

    def requests(self) -> None:
        print("\n5. HTTP requests per resolution")
        config = self.fresh_config("requests")
        env = self.env(config)
        refs = [img.ref for img in self.images]
        cold = TrustClient(docker_config=config, env=env)
        cold.resolve_many(refs)
        warm = TrustClient(docker_config=config, env=env)
        warm.resolve_many(refs)
        assert cold.transport is not None and warm.transport is not None
        print(f"   empty trust dir: {cold.transport.requests / len(refs):.1f}   "
              f"warm trust dir: {warm.transport.requests / len(refs):.1f}   "
              "(notary lookup with a warm dir: 1, the timestamp)")


class _Resolver(Protocol):
    def resolve(self, ref: str) -> object: ...


class _FreshEach:
    """Resolves each reference with a new client: what a new process does, minus start-up."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config, self.env = config, env

    def resolve(self, ref: str) -> object:
        return TrustClient(docker_config=self.config, env=self.env).resolve(ref)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="tb-bench-"))
    try:
        with running_stack() as stack:
            bench = Bench(stack, tmp)
            print(f"publishing {max(SIZES)} signed repositories on the local stack…",
                  flush=True)
            bench.publish()
            bench.check_vs_notary()
            bench.throughput()
            bench.startup()
            bench.build_overhead()
            bench.requests()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
