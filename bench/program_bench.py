"""Benchmark: the edge stack program under Pulumi's mocks, against a flat replay of what it registered.

Each size runs in fresh interpreters: the shipped edge environment with its first N sites, deployed as one
stack, through the real program (plan, EdgeCluster, PackStack, exports). A second interpreter then registers
exactly the same resources with no program logic (see :mod:`bench.replay`): the SDK's own cost, the floor.
Reported per size: CPU and wall time and the peak memory the run adds, for the program and for the replay,
and the ratio program/replay (the program's own cost on top of the SDK's). The replay is checked to be the
same graph, request by request, before any figure is printed. Run: ``python -m bench.program_bench``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.fleet import write
from bench.harness import ROOT, run_sizes

SIZES = (1, 10, 200, 240)
RECORDING = "registrations.pickle"
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: default\n  cluster:\n    server: https://127.0.0.1:6443\n"
    "    certificate-authority-data: Q0E=\ncontexts:\n- name: default\n  context: {cluster: default, user: default}\n"
    "current-context: default\nusers:\n- name: default\n"
    "  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}\n"
)
#: The SDK modules whose resource classes the program uses. Both sides import their modules before the clock
#: starts (the replay needs none of these), so the ratio compares registering, not importing.
SDK_MODULES = (
    "pulumi_command.remote",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.meta.v1",
    "pulumi_kubernetes.helm.v4",
    "pulumi_kubernetes.yaml.v2",
)
CLOUD_SDKS = ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp")


def prepare(count: int, folder: Path) -> Path:
    config = folder / "config"
    (config / "inventories").mkdir(parents=True)
    env = yaml.safe_load((ROOT / "stacks/config/Pulumi.edge.yaml").read_text())
    env["config"]["strata:stacks"] = "environment"  # N sites in this one stack, on purpose
    (config / "Pulumi.bench.yaml").write_text(yaml.safe_dump(env))
    write(config / env["config"]["strata:inventory"]["file"], count)
    shutil.copy(ROOT / "stacks/config/Pulumi.edge.yaml", config / "Pulumi.edge.yaml")
    return config


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def _under_mocks(body: Callable[[], int]) -> tuple[dict[str, Any], Any]:
    """Run ``body`` (which registers resources) under recording mocks, to completion; time and memory it."""
    import pulumi

    from bench.replay import RecordingMonitor

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            state = dict(args.inputs)
            if args.typ == "command:remote:Command" and "k3s.yaml" in str(args.inputs.get("create", "")):
                state["stdout"] = KUBECONFIG
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
            return {}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(Mocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="strata", stack="bench", preview=False, monitor=monitor)
    gc.collect()
    modules = set(sys.modules)
    before = _rss_mib()
    cpu, wall = time.process_time(), time.perf_counter()
    clusters = body()

    async def drain() -> None:
        while pending := [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task() and not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(drain())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    row = {
        "clusters": clusters,
        "cpu_seconds": cpu,
        "seconds": wall,
        "peak_mib": _peak_rss_mib() - before,
        "resources": sum(1 for kind, _ in monitor.records if kind == "register"),
        "imported_during_run": sorted(m for m in set(sys.modules) - modules if "." not in m),
        "cloud_sdks": [m for m in CLOUD_SDKS if m in sys.modules],
    }
    return row, monitor


def measure_program(config: Path) -> dict[str, Any]:
    """The real program; leaves its recording beside ``config`` for the replay. Runs in a child."""
    os.environ.setdefault(
        "EDGE_SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nYmVuY2g=\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    from bench.replay import Recording, resolved_exports
    from stacks.program import run

    for module in SDK_MODULES:
        importlib.import_module(module)
    row, monitor = _under_mocks(lambda: len(run("bench", config_dir=config)))
    exports = asyncio.get_event_loop().run_until_complete(resolved_exports())
    Recording(monitor.records, exports).save(config.parent / RECORDING)
    return row


def measure_replay(config: Path) -> dict[str, Any]:
    """The program's recorded registrations, replayed with no logic, then compared with it. Runs in a child."""
    from bench.replay import Recording, differences, load, replay

    recorded = Recording.read(config.parent / RECORDING)
    steps = load(recorded)
    clusters = len(recorded.exports.get("clusters", ({}, False))[0])
    row, monitor = _under_mocks(lambda: replay(steps, recorded.exports) and clusters)
    row["differences"] = differences(recorded.records, monitor.records)[:20]
    return row


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated runs, the least disturbed one: the fewest CPU seconds (a busy machine only adds time)."""
    return min(runs, key=lambda r: r["cpu_seconds"])


def main() -> None:
    rows = run_sizes(
        "bench.program_bench",
        __doc__.split("\n")[0],
        SIZES,
        prepare,
        {"program": measure_program, "replay": measure_replay},
        repeat=2,
    )
    if not rows:
        return
    print(
        "| sites in the stack | resources | program CPU s | replay CPU s | CPU ratio | wall ratio "
        "| program peak MiB | replay peak MiB | memory ratio | cloud SDKs loaded |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        program, replay = _best(row["program"]), _best(row["replay"])
        problems = [d for r in row["replay"] for d in r["differences"]]
        if problems or program["resources"] != replay["resources"]:
            raise SystemExit("the replay is not the program's graph:\n  " + "\n  ".join(problems[:20]))
        print(
            f"| {program['clusters']} | {program['resources']:,} | {program['cpu_seconds']:.2f} | "
            f"{replay['cpu_seconds']:.2f} | {program['cpu_seconds'] / replay['cpu_seconds']:.2f}x | "
            f"{program['seconds'] / replay['seconds']:.2f}x | {program['peak_mib']:.1f} | {replay['peak_mib']:.1f} | "
            f"{program['peak_mib'] / max(replay['peak_mib'], 0.1):.2f}x | {', '.join(program['cloud_sdks']) or 'none'} |"
        )
    late = sorted({m for row in rows for r in row["program"] for m in r["imported_during_run"]})
    if late:
        print(f"\nmodules first imported while the program ran (counted in its time): {', '.join(late)}")


if __name__ == "__main__":
    main()
