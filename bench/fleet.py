"""A deterministic edge fleet inventory: the shipped edge environment and the benchmark's larger fleets.

The same generator writes ``stacks/config/inventories/edge-sites.csv`` (240 sites) and the 1,000 and
10,000 site inventories the benchmark plans, so the benchmark measures the shipped data's shape.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

REGIONS = {
    "eu-west": ("fr", "be", "nl", "ie", "pt", "es"),
    "eu-central": ("de", "at", "ch", "pl", "cz", "it"),
    "us-east": ("ny", "nj", "va", "ga", "fl", "ma"),
    "us-west": ("ca", "or", "wa", "nv", "az", "ut"),
    "ap-south": ("in", "sg", "my", "th", "id", "vn"),
    "sa-east": ("br", "ar", "cl", "co", "pe", "uy"),
}
TIERS = ("store", "store", "store", "warehouse", "factory")
COLUMNS = (
    "name",
    "region",
    "site",
    "address",
    "cpu_millicores",
    "memory_mib",
    "labels.tier",
    "labels.country",
    "facts.rack",
)


def rows(count: int) -> list[dict[str, str]]:
    """``count`` sites spread round-robin over regions; every value derived from the index (no randomness)."""
    regions = list(REGIONS)
    out = []
    for i in range(count):
        region = regions[i % len(regions)]
        country = REGIONS[region][(i // len(regions)) % len(REGIONS[region])]
        tier = TIERS[i % len(TIERS)]
        number = i + 1
        out.append(
            {
                "name": f"{region}-{country}-{number:05d}",
                "region": region,
                "site": f"{country}-{number:05d}",
                "address": f"10.{number // 62500}.{number // 250 % 250}.{number % 250 + 1}",
                # Factories run bigger boxes; stores the 2-core/4 GiB minimum the edge profile is built for.
                "cpu_millicores": "8000" if tier == "factory" else "4000" if tier == "warehouse" else "2000",
                "memory_mib": "16384" if tier == "factory" else "8192" if tier == "warehouse" else "4096",
                "labels.tier": tier,
                "labels.country": country,
                "facts.rack": f"r{number % 12 + 1}",
            }
        )
    return out


def write(path: Path, count: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows(count))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    write(args.path, args.count)


if __name__ == "__main__":
    main()
