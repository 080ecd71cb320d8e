"""Fleet orchestration benchmark: makespan against the ideal, memory at 10,000 stacks, real processes per second.

``python -m bench.fleet_bench`` prints three tables:

1. makespan of one wave of N = 1,000 stacks at K = 8 with the engine double at a fixed latency L per operation
   (``preview``: one engine call per stack), against the ideal ceil(N/K) x L (the goal: at most 1.1x);
2. the orchestrator's own memory at N = 1,000 and 10,000 (latency 0; one fresh interpreter per size): tracemalloc
   peak during the run, per stack, and peak RSS;
3. with the fake ``pulumi`` executable (tests/fake_pulumi.py: a real process per CLI call, through the real
   Automation API SDK and the local engine), operations per second at K = 1, 4, 8.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.harness import ROOT, run_sizes
from stacks.fleet.model import FleetStack, Operation, RunOptions
from stacks.fleet.orchestrator import Orchestrator
from tests.fleet_double import DoubleEngine


def one_wave(parallel: int) -> RunOptions:
    """Every stack in a single wave, no canary: the makespan measured is the engine's, not the pacing's."""
    return RunOptions(parallel=parallel, canary=0, wave_size="100%")


def stacks(n: int) -> list[FleetStack]:
    return [FleetStack(f"edge.site-{i:05d}", (f"site-{i:05d}",), f"{i:016x}") for i in range(n)]


def makespan(n: int, k: int, latency: float) -> dict[str, Any]:
    engine = DoubleEngine(latency=latency, record=False)
    orch = Orchestrator(engine, one_wave(k))
    start = time.perf_counter()
    results, _ = orch.run(Operation.PREVIEW, stacks(n))
    took = time.perf_counter() - start
    ideal = math.ceil(n / k) * latency
    assert len(results) == n
    return {"N": n, "K": k, "L_s": latency, "makespan_s": round(took, 3), "ideal_s": ideal, "ratio": took / ideal}


def memory(config: Path) -> dict[str, Any]:
    n = int((config / "size").read_text())
    fleet = stacks(n)
    engine = DoubleEngine(latency=0, record=False)
    tracemalloc.start()
    orch = Orchestrator(engine, one_wave(8))
    results, _ = orch.run(Operation.PREVIEW, fleet)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"N": n, "peak_mib": peak / 2**20, "bytes_per_stack": peak / n, "rss_mib": rss, "results": len(results)}


def fake_cli(k: int, count: int) -> dict[str, Any]:
    from stacks.fleet.local import LocalEngine

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bin").mkdir()
        wrapper = folder / "bin" / "pulumi"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "fake_pulumi.py"}" "$@"\n')
        wrapper.chmod(0o755)
        (folder / "state").mkdir()
        os.environ["PATH"] = f"{folder / 'bin'}{os.pathsep}{os.environ['PATH']}"
        os.environ["FAKE_PULUMI_STATE"] = str(folder / "state")
        engine = LocalEngine(ROOT)
        fleet = stacks(count)
        engine.prepare([s.name for s in fleet], create=True)
        orch = Orchestrator(engine, one_wave(k))
        start = time.perf_counter()
        results, summary = orch.run(Operation.PREVIEW, fleet)
        took = time.perf_counter() - start
        assert summary.counts.get(next(iter(summary.counts))) is not None and len(results) == count
        ok = sum(r.outcome.value == "succeeded" for r in results)
        return {"K": k, "operations": count, "succeeded": ok, "seconds": round(took, 2), "ops_per_s": count / took}


def _prepare(size: int, folder: Path) -> Path:
    (folder / "size").write_text(str(size))
    return folder


def main() -> None:
    if "--child" in sys.argv:
        run_sizes("bench.fleet_bench", __doc__.split("\n")[0], [], _prepare, memory)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--cli-ops", type=int, default=24)
    args = parser.parse_args()
    print(json.dumps(makespan(1000, 8, args.latency)))
    sys.argv = [sys.argv[0], "--sizes", "1000", "10000"]
    for row in run_sizes("bench.fleet_bench", __doc__.split("\n")[0], [], _prepare, memory):
        print(json.dumps(row))
    for k in (1, 4, 8):
        print(json.dumps(fake_cli(k, args.cli_ops)))


if __name__ == "__main__":
    main()
