"""What both benchmarks share: one fresh interpreter per fleet size, so each size's peak memory is its own."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_sizes(
    module: str,
    description: str,
    sizes: Sequence[int],
    prepare: Callable[[int, Path], Path],
    measure: Callable[[Path], dict[str, Any]],
    outside: Callable[[Path], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Parse the command line; as the parent, run ``measure`` in a child per size and return the rows.

    ``prepare(size, folder)`` writes a config folder; ``outside(config)`` adds figures measured from the
    parent (e.g. a whole command's wall time). As the child (``--child``), print ``measure``'s row and
    return nothing.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(sizes))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return []
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            config = prepare(size, Path(tmp))
            out = subprocess.run(
                [sys.executable, "-m", module, "--child", str(config)],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            if outside is not None:
                row.update(outside(config))
            rows.append(row)
    return rows
