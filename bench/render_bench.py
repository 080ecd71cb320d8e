"""Benchmark: ``strata render --delivery flux`` of the edge environment scaled to 240 and 10,000 sites.

Each size runs in a fresh interpreter (bench/harness.py). Reported: the plan (load, validate, resolve, plan
each site's Flux controllers), the render (build every site's Flux objects and write its folder), per-site
render time and output size, and peak RSS. Rendering a fleet must scale linearly: the per-site figures should
stay flat as the fleet grows. Run: ``python -m bench.render_bench [--sizes 240 10000]``.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from bench.harness import run_sizes
from bench.plan_bench import prepare

SIZES = (240, 10_000)


def measure(config: Path) -> dict[str, float]:
    """Runs inside the child interpreter."""
    from components.delivery.plan import DeliveryMode
    from stacks.bundle import render_environment
    from stacks.plan import plan_environment

    start = time.perf_counter()
    result = plan_environment("edge", config_dir=config)
    planned = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rendered = render_environment(result, Path(out), DeliveryMode.FLUX)
        done = time.perf_counter()
    sites = len(rendered)
    size = sum(r.bytes for r in rendered)
    return {
        "sites": sites,
        "plan_s": planned - start,
        "render_s": done - planned,
        "ms_per_site": (done - planned) * 1000 / sites,
        "kib_per_site": size / 1024 / sites,
        "files_per_site": sum(r.files for r in rendered) / sites,
        "total_mib": size / 2**20,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    rows = run_sizes("bench.render_bench", __doc__.split("\n")[0], SIZES, prepare, measure)
    if not rows:
        return
    print("| sites | plan (s) | render (s) | ms / site | KiB / site | files / site | total (MiB) | peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['sites']:,} | {r['plan_s']:.2f} | {r['render_s']:.2f} | {r['ms_per_site']:.2f} | "
            f"{r['kib_per_site']:.2f} | {r['files_per_site']:.0f} | {r['total_mib']:.1f} | {r['peak_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
