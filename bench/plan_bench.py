"""Benchmark: the offline plan of the edge environment scaled to 200, 1,000 and 10,000 sites.

Each size runs in a fresh interpreter so peak memory (max RSS) belongs to that size alone. Reported:
wall time of loading + validating the environment and resolving every cluster, clusters/second, the
time to render the ``--json`` document, and peak RSS. Run: ``python -m bench.plan_bench``.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.fleet import write
from bench.harness import ROOT, run_sizes

SIZES = (200, 1_000, 10_000)


def prepare(count: int, folder: Path) -> Path:
    """A config folder holding the shipped edge environment with an inventory of ``count`` sites."""
    config = folder / "config"
    (config / "inventories").mkdir(parents=True)
    # The management environment too: edge names its operator cluster, and the plan checks that it exists.
    for name in ("Pulumi.edge.yaml", "Pulumi.management.yaml"):
        shutil.copy(ROOT / "stacks/config" / name, config / name)
    env = yaml.safe_load((config / "Pulumi.edge.yaml").read_text())
    write(config / env["config"]["strata:inventory"]["file"], count)
    return config


def measure(config: Path) -> dict[str, float]:
    """Runs inside the child interpreter."""
    from stacks.plan import plan_environment

    start = time.perf_counter()
    result = plan_environment("edge", config_dir=config)
    planned = time.perf_counter()
    document = result.as_json()
    rendered = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "clusters": len(result.clusters),
        "plan_s": planned - start,
        "json_s": rendered - planned,
        "json_mib": len(document) / 2**20,
        "peak_mib": peak_kib / 1024,
    }


def cli_seconds(config: Path) -> dict[str, float]:
    """The whole command as a pipeline runs it: interpreter start, imports, plan, JSON to a pipe."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "stacks.cli", "plan", "--env", "edge", "--json", "--config-dir", str(config)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return {"cli_s": time.perf_counter() - start}


def main() -> None:
    rows = run_sizes("bench.plan_bench", __doc__.split("\n")[0], SIZES, prepare, measure, cli_seconds)
    if not rows:
        return
    print("| sites | plan (s) | clusters/s | --json render (s) | JSON (MiB) | peak RSS (MiB) | CLI end to end (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['clusters']:,} | {r['plan_s']:.2f} | {r['clusters'] / r['plan_s']:,.0f} | "
            f"{r['json_s']:.2f} | {r['json_mib']:.1f} | {r['peak_mib']:.0f} | {r['cli_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
