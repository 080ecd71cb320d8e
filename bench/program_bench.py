"""Benchmark: the edge stack program evaluated under Pulumi's mocks for 1, 10 and 200 sites in one process.

Each size runs in a fresh interpreter: the shipped edge environment with its first N sites, deployed as one
stack, through the real program (plan, EdgeCluster, PackStack, exports). Reported per cluster: wall time
and resident memory added by the program, plus the resources registered, and which cloud SDK modules the
process loaded (an edge stack must load none). Run: ``python -m bench.program_bench``.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.fleet import write
from bench.harness import ROOT, run_sizes

SIZES = (1, 10, 200)
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: default\n  cluster:\n    server: https://127.0.0.1:6443\n"
    "    certificate-authority-data: Q0E=\ncontexts:\n- name: default\n  context: {cluster: default, user: default}\n"
    "current-context: default\nusers:\n- name: default\n"
    "  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}\n"
)


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


def measure(config: Path) -> dict[str, Any]:
    """Runs inside the child interpreter."""
    import os

    import pulumi

    os.environ.setdefault(
        "EDGE_SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nYmVuY2g=\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    from stacks.program import run

    class Mocks(pulumi.runtime.Mocks):
        registered = 0

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            Mocks.registered += 1
            state = dict(args.inputs)
            if args.typ == "command:remote:Command" and "k3s.yaml" in str(args.inputs.get("create", "")):
                state["stdout"] = KUBECONFIG
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
            return {}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(Mocks(), project="strata", stack="bench", preview=False)
    before = _rss_mib()
    start = time.perf_counter()
    built = run("bench", config_dir=config)

    async def drain() -> None:
        while pending := [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task() and not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(drain())
    elapsed = time.perf_counter() - start
    clouds = [m for m in ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp") if m in sys.modules]
    return {
        "clusters": len(built),
        "seconds": elapsed,
        "rss_mib": _rss_mib() - before,
        "resources": Mocks.registered,
        "cloud_sdks": clouds,
    }


def main() -> None:
    rows = run_sizes("bench.program_bench", __doc__.split("\n")[0], SIZES, prepare, measure)
    if not rows:
        return
    print("| sites in the stack | resources | ms / cluster | MiB / cluster | cloud SDKs loaded |")
    print("|---:|---:|---:|---:|---|")
    for r in rows:
        n = r["clusters"]
        print(
            f"| {n} | {r['resources']:,} | {1000 * r['seconds'] / n:.1f} | {r['rss_mib'] / n:.2f} | "
            f"{', '.join(r['cloud_sdks']) or 'none'} |"
        )
    by_size = {r["clusters"]: r for r in rows}
    if 10 in by_size and 200 in by_size:
        small, large = by_size[10], by_size[200]
        growth = (large["seconds"] / 200) / (small["seconds"] / 10) - 1
        marginal_ms = 1000 * (large["seconds"] - small["seconds"]) / 190
        marginal_mib = (large["rss_mib"] - small["rss_mib"]) / 190
        print(f"\nper-cluster time from 10 to 200 sites: {growth:+.0%}")
        print(f"marginal cost of one more site (10 -> 200): {marginal_ms:.1f} ms, {marginal_mib:.2f} MiB")


if __name__ == "__main__":
    main()
