"""Benchmark: the operator side of the edge fleet at 240, 2,000 and 10,000 sites.

Measured per size (one process, sizes in turn): planning the environment, building every operator object
(``operator_objects``), rendering the GitOps files, their size, and a whole ``fleet up --engine operator``
(canary 1, waves of 25%, parallel 25) against the status simulator of the tests, which answers each Stack's
second read with a success: the cost of the engine and orchestrator per stack, not of Pulumi.
Run: ``python -m bench.operator_bench``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.plan_bench import prepare
from stacks.fleet.model import FleetStack, Operation, RunOptions
from stacks.fleet.operator import OperatorEngine
from stacks.fleet.runner import run_fleet
from stacks.operator.objects import operator_objects, operator_stacks
from stacks.operator.render import render_files
from stacks.plan import plan_environment
from tests.unit.test_fleet_operator import SimulatedOperator

SIZES = (240, 2_000, 10_000)


def measure(count: int, folder: Path) -> dict[str, float]:
    config = prepare(count, folder)
    shutil.copy(Path(__file__).resolve().parents[1] / "stacks/config/Pulumi.management.yaml", config)
    t0 = time.perf_counter()
    result = plan_environment("edge", config_dir=config)
    t1 = time.perf_counter()
    reconcile = result.environment.settings.reconcile
    assert reconcile is not None, "the edge environment is reconciled by the operator (strata:reconcile)"
    objects = operator_objects(result.environment, result.clusters)
    t2 = time.perf_counter()
    files = render_files(result.environment, result.clusters)
    t3 = time.perf_counter()
    stacks = operator_stacks(result.environment, result.clusters)
    api = SimulatedOperator(stacks, {})
    engine = OperatorEngine(api, stacks, reconcile.commit, poll=0.0)
    fleet = [FleetStack(s.name, s.clusters) for s in stacks]
    t4 = time.perf_counter()
    report = run_fleet(Operation.UP, "edge", fleet, engine, RunOptions(parallel=25), state_dir=folder / "runs")
    t5 = time.perf_counter()
    assert report.exit_code == 0 and len(objects) == count + 3
    return {
        "sites": count,
        "plan_s": t1 - t0,
        "objects_s": t2 - t1,
        "render_s": t3 - t2,
        "yaml_mib": sum(len(v) for v in files.values()) / 2**20,
        "rollout_s": t5 - t4,
        "ms_per_stack": (t5 - t4) * 1000 / count,
    }


def main() -> None:
    print("| sites | plan (s) | objects (s) | render (s) | YAML (MiB) | rollout via simulator (s) | ms / stack |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure(count, Path(tmp))
        print(
            f"| {r['sites']:,} | {r['plan_s']:.2f} | {r['objects_s']:.2f} | {r['render_s']:.2f} | "
            f"{r['yaml_mib']:.1f} | {r['rollout_s']:.2f} | {r['ms_per_stack']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
