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
import base64
import gc
import hashlib
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


def _blob(label: str, size: int) -> str:
    """Deterministic base64 of ``size`` bytes: certificate-sized, like the data k3s writes."""
    raw = b"".join(hashlib.sha256(f"{label}{i}".encode()).digest() for i in range(size // 32 + 1))[:size]
    return base64.b64encode(raw).decode()


#: What k3s writes to /etc/rancher/k3s/k3s.yaml (same layout and sizes: a CA, a client certificate chain, a key).
KUBECONFIG = f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {_blob("ca", 570)}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {_blob("crt", 1270)}
    client-key-data: {_blob("key", 227)}
"""
#: The SDK modules whose resource classes the program uses. Both sides import them before the clock starts: the
#: ratio compares registering, not importing, and both sides carry the same SDK heap (which every pass of the
#: cyclic garbage collector walks) even though the replay registers plain resources.
SDK_MODULES = (
    "pulumi_command.remote",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.meta.v1",
    "pulumi_kubernetes.helm.v4",
    "pulumi_kubernetes.yaml.v2",
)
CLOUD_SDKS = ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp")


def load_sdk() -> None:
    """Import :data:`SDK_MODULES` for real, parents included. Pulumi's generated packages are lazy modules that
    load on first attribute access: left lazy, ``pulumi_kubernetes.yaml`` (which brings requests and urllib3)
    would load inside whichever side first reads ``k8s.yaml``, and be timed there."""
    for name in SDK_MODULES:
        importlib.import_module(name)
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            getattr(sys.modules[".".join(parts[:i])], "__all__", None)


def prepare(count: int, folder: Path) -> Path:
    config = folder / "config"
    (config / "inventories").mkdir(parents=True)
    env = yaml.safe_load((ROOT / "stacks/config/Pulumi.edge.yaml").read_text())
    env["config"]["strata:stacks"] = "environment"  # N sites in this one stack, on purpose
    env["config"].pop("strata:reconcile", None)  # measured here: the program, not the operator that would run it
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
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            state = dict(args.inputs)
            if args.typ == "command:remote:Command" and "k3s.yaml" in str(args.inputs.get("create", "")):
                state["stdout"] = KUBECONFIG
            if args.typ == "pulumi:pulumi:StackReference":
                state.update({"outputs": {}, "secretOutputNames": []})  # a stack deployed for the first time
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            return {}, []  # no result, no check failures (the SDK iterates the failures: never None)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(Mocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="strata", stack="bench", preview=False, monitor=monitor)
    gc.collect()
    collecting: list[float] = [0.0, 0.0]  # seconds spent in the cyclic collector, start of the current pass

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[1] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - collecting[1]

    gc.callbacks.append(collector)
    modules = set(sys.modules)
    before = _rss_mib()
    cpu, wall = time.process_time(), time.perf_counter()
    clusters = body()

    async def drain() -> None:
        while pending := [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task() and not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(drain())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gc.callbacks.remove(collector)
    row = {
        "clusters": clusters,
        "cpu_seconds": cpu,
        "seconds": wall,
        "gc_seconds": collecting[0],
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
    from bench.replay import Recording, UnsetProperties, resolved_exports
    from stacks.program import run

    load_sdk()
    with UnsetProperties() as unset:
        # As stacks/__main__.py runs it under the engine: one program per process.
        row, monitor = _under_mocks(lambda: len(run("bench", config_dir=config, own_process=True)))
    loop = asyncio.get_event_loop()
    exports = loop.run_until_complete(resolved_exports())
    Recording(monitor.records, exports, loop.run_until_complete(unset.by_urn())).save(config.parent / RECORDING)
    return row


def measure_replay(config: Path) -> dict[str, Any]:
    """The program's recorded registrations, replayed with no logic, then compared with it. Runs in a child."""
    from bench.replay import Recording, differences, load, replay, resolved_exports

    load_sdk()
    recorded = Recording.read(config.parent / RECORDING)
    steps = load(recorded)
    clusters = len(recorded.exports.get("clusters", {}))
    row, monitor = _under_mocks(lambda: replay(recorded, steps) and clusters)
    exports = asyncio.get_event_loop().run_until_complete(resolved_exports())
    problems = differences(recorded.records, monitor.records)
    if exports != recorded.exports:
        problems.append("the stack exports differ")
    row["differences"] = problems[:20]
    return row


def _least(runs: list[dict[str, Any]], key: str) -> float:
    """Of repeated runs, the least disturbed figure: a busy machine (or an unlucky collector pass) only adds."""
    return min(float(r[key]) for r in runs)


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
        "| sites in the stack | resources | program CPU s | replay CPU s | time ratio | wall ratio "
        "| program peak MiB | replay peak MiB | memory ratio | cloud SDKs loaded |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        program, replay = row["program"], row["replay"]
        problems = [d for r in replay for d in r["differences"]]
        if problems or program[0]["resources"] != replay[0]["resources"]:
            raise SystemExit("the replay is not the program's graph:\n  " + "\n  ".join(problems[:20]))
        cpu = _least(program, "cpu_seconds"), _least(replay, "cpu_seconds")
        wall = _least(program, "seconds"), _least(replay, "seconds")
        peak = _least(program, "peak_mib"), _least(replay, "peak_mib")
        sdks = ", ".join(program[0]["cloud_sdks"]) or "none"
        print(
            f"| {program[0]['clusters']} | {program[0]['resources']:,} | {cpu[0]:.2f} | {cpu[1]:.2f} | "
            f"{cpu[0] / cpu[1]:.2f}x | {wall[0] / wall[1]:.2f}x | {peak[0]:.1f} | {peak[1]:.1f} | "
            f"{peak[0] / max(peak[1], 0.1):.2f}x | {sdks} |"
        )
    late = sorted({m for row in rows for r in row["program"] for m in r["imported_during_run"]})
    if late:
        print(f"\nmodules first imported while the program ran (counted in its time): {', '.join(late)}")


if __name__ == "__main__":
    main()
