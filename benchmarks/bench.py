"""trustbuild measured side by side with the notary and docker CLIs (``nox -s bench``).

Brings up the local stack, publishes 20 signed repositories, and prints medians and ratios:

1. round trips: ``trustbuild check`` of a Dockerfile with 20 distinct signed images against 20
   sequential ``notary lookup`` runs, both through a relay that adds a fixed round-trip time
   (about 0 and 50 ms), with an empty and a warm trust dir; round trips = (wall at 50 ms -
   wall at 0 ms) / 50 ms, which separates them from start-up and CPU;
2. the same on plain loopback (no relay), and for 1 and 5 images;
3. the library's warm verified resolutions per second in one process;
4. guard: ``trustbuild --version``;
5. guard: ``trustbuild build`` over ``docker build``;
6. HTTP requests per resolution.

Targets are checked in the output, never in tests.  ``BENCH_RUNS`` sets the runs per median
(default 5), ``BENCH_SECTIONS`` (say ``1,4``) runs only those sections.
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

from benchmarks.relay import delayed  # noqa: E402
from tests.stack.publisher import Published, Publisher  # noqa: E402
from tests.stack.services import DOCKER_CLI, Stack, running_stack  # noqa: E402
from trustbuild._internal.notary.client import TrustClient  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
RTT = 0.050
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

    # -- 1. round trips through a delaying relay ---------------------------------------------

    def relayed_config(self, name: str, port: int) -> Path:
        """A fresh config (empty trust dir) that trusts the stack's CA at the relay's port."""
        config = self.fresh_config(name)
        tls = config / "tls" / f"127.0.0.1:{port}"
        tls.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.stack.notary_ca, tls / "ca.crt")
        return config

    def round_trips(self) -> None:
        n = max(SIZES)
        print(f"\n1. round trips, {n} distinct images, through a relay adding 0 and "
              f"{RTT * 1000:.0f} ms of RTT (medians of {RUNS}, interleaved)")
        ctx = self.dockerfile(n)
        host, port = self.stack.notary_hostport.split(":")
        walls: dict[tuple[str, float], float] = {}
        for rtt in (0.0, RTT):
            with delayed(host, int(port), rtt) as relay:
                url = f"https://127.0.0.1:{relay.port}"
                warm = self.relayed_config(f"rt-warm-{rtt}", relay.port)
                cold = self.tmp / f"rt-cold-{rtt}"
                notary_dir = self.tmp / f"rt-notary-{rtt}"

                def env(config: Path, url: str = url) -> dict[str, str]:
                    return {**self.env(config), "DOCKER_CONTENT_TRUST_SERVER": url}

                check = [TRUSTBUILD, "check", str(ctx)]
                run(check, env(warm))

                def reset(cold: Path = cold, port: int = relay.port) -> None:
                    shutil.rmtree(cold, ignore_errors=True)
                    shutil.copytree(self.relayed_config("rt-template", port), cold)

                lookups = [["notary", "-s", url, "-d", str(notary_dir), "--tlscacert",
                            str(self.stack.notary_ca), "lookup", img.repo, img.tag]
                           for img in self.images[:n]]

                notary_env = env(warm)

                def notary_all(lookups: list[list[str]] = lookups,
                               e: dict[str, str] = notary_env) -> None:
                    for argv in lookups:
                        run(argv, e)

                def empty_notary_dir(d: Path = notary_dir) -> None:
                    shutil.rmtree(d, ignore_errors=True)

                notary_all()
                refs = [img.ref for img in self.images[:n]]

                def library(config: Path, refs: list[str] = refs,
                            env: Callable[[Path], dict[str, str]] = env) -> None:
                    answers = TrustClient(docker_config=config, env=env(config)) \
                        .resolve_many(refs)
                    assert not any(isinstance(a, Exception) for a in answers.values())

                got = interleaved_medians({
                    "trustbuild warm": (partial(run, check, env(warm)), None),
                    "trustbuild empty": (partial(run, check, env(cold)), reset),
                    "library warm": (partial(library, warm), None),
                    "library empty": (partial(library, cold), reset),
                    "notary empty": (notary_all, empty_notary_dir),  # leaves the dir warm
                    "notary warm": (notary_all, None),
                })
                for name, seconds in got.items():
                    walls[(name, rtt)] = seconds
        print("   (library: resolve_many in this process, without start-up)")
        print(f"{'':18} {'wall @0 ms':>11} {'wall @50 ms':>12} {'round trips':>12} "
              f"{'@50 ms vs notary':>17}")
        for which in ("empty", "warm"):
            for tool in ("trustbuild", "library", "notary"):
                name = f"{tool} {which}"
                low, high = walls[(name, 0.0)], walls[(name, RTT)]
                ratio = high / walls[(f"notary {which}", RTT)]
                print(f"{name:18} {ms(low):>11} {ms(high):>12} {(high - low) / RTT:>12.1f} "
                      f"{ratio:>16.3f}x")
        for which, limit in (("empty", 5), ("warm", 3)):
            name = f"trustbuild {which}"
            trips = (walls[(name, RTT)] - walls[(name, 0.0)]) / RTT
            ratio = walls[(name, RTT)] / walls[(f"notary {which}", RTT)]
            print(f"   target: {which} trust dir <= {limit} round trips: {trips:.1f} -> "
                  f"{verdict(trips <= limit)}; <= 0.1x notary at 50 ms: {ratio:.3f} -> "
                  f"{verdict(ratio <= 0.1)}")

    # -- 2. check against notary lookup on plain loopback -----------------------------------

    def check_vs_notary(self) -> dict[int, tuple[float, float, float, float]]:
        print("\n2. trustbuild check vs sequential `notary lookup`, plain loopback (medians, "
              f"interleaved, of {RUNS} runs)")
        print(f"{'images':>7} {'check warm':>12} {'check cold':>12} {'notary warm':>12} "
              f"{'notary cold':>12} {'warm/notary':>12} {'cold/notary':>12}")
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
            results[n] = (t_warm, t_cold, t_notary, t_notary_cold)
            print(f"{n:>7} {ms(t_warm):>12} {ms(t_cold):>12} {ms(t_notary):>12} "
                  f"{ms(t_notary_cold):>12} {t_warm / t_notary:>12.2f} "
                  f"{t_cold / t_notary_cold:>12.2f}")
        t_warm, t_cold, t_notary, t_notary_cold = results[max(SIZES)]
        print(f"   target: 20 images <= 0.5 x notary: warm {t_warm / t_notary:.2f} -> "
              f"{verdict(t_warm <= 0.5 * t_notary)}; empty {t_cold / t_notary_cold:.2f} -> "
              f"{verdict(t_cold <= 0.5 * t_notary_cold)}")
        return results

    # -- 3. in-process throughput -------------------------------------------------------------

    def throughput(self) -> None:
        print("\n3. library resolutions per second, warm (2 s each)")
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
        print(f"   one client, metadata verified once per load (max_age): {shared:10.0f}/s, "
              f"8 threads {shared8:10.0f}/s")
        print(f"   a new client per resolution (timestamp fetched, chain re-verified from "
              f"the disk cache): {fresh:8.0f}/s, 8 threads {fresh8:8.0f}/s")
        print(f"   target: >= 1000 warm verified resolutions/s: {verdict(shared >= 1000)}")

    # -- 4. start-up ----------------------------------------------------------------------------

    def startup(self) -> None:
        print(f"\n4. guard: start-up (median of {RUNS * 2} runs)")
        env = dict(os.environ)
        base = median_seconds(lambda: run([sys.executable, "-c", "pass"], env), RUNS * 2)
        version = median_seconds(lambda: run([TRUSTBUILD, "--version"], env), RUNS * 2)
        helptext = median_seconds(lambda: run([TRUSTBUILD, "--help"], env), RUNS * 2)
        print(f"   python -c pass {ms(base)}   trustbuild --version {ms(version)}   "
              f"trustbuild --help {ms(helptext)}")
        print(f"   guard: --version <= 300 ms: {verdict(version <= 0.3)}")

    # -- 5. build overhead ----------------------------------------------------------------------

    def build_overhead(self) -> None:
        print("\n5. guard: build overhead, classic builder, cached, one image (medians, "
              "interleaved, "
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
        print(f"   guard: <= 300 ms over docker build: {verdict(t_tb - t_plain <= 0.3)}")

    # -- 6. requests ------------------------------------------------------------------------------

    def requests(self) -> None:
        print("\n6. HTTP requests per resolution")
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
            sections = [bench.round_trips, bench.check_vs_notary, bench.throughput,
                        bench.startup, bench.build_overhead, bench.requests]
            chosen = os.environ.get("BENCH_SECTIONS", "")  # e.g. "1,4": only those
            for number, section in enumerate(sections, start=1):
                if not chosen or str(number) in chosen.split(","):
                    section()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
