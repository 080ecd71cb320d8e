"""What both benchmarks share: one fresh interpreter per fleet size, so each size's peak memory is its own."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

Measure = Callable[[Path], dict[str, Any]]


def run_sizes(
    module: str,
    description: str,
    sizes: Sequence[int],
    prepare: Callable[[int, Path], Path],
    measure: Measure | Mapping[str, Measure],
    outside: Callable[[Path], dict[str, Any]] | None = None,
    repeat: int = 1,
) -> list[dict[str, Any]]:
    """Parse the command line; as the parent, run ``measure`` in a child per size and return the rows.

    ``prepare(size, folder)`` writes a config folder; ``outside(config)`` adds figures measured from the
    parent (e.g. a whole command's wall time). As the child (``--child``), print ``measure``'s row and
    return nothing.

    ``measure`` may name several measurements (``{"program": ..., "replay": ...}``): each runs in its own
    child, in the given order, against the same config folder (an earlier one may leave files there for a
    later one), ``--repeat`` times interleaved so that a busy machine slows every measurement alike. The
    row is then ``{name: [one row per repeat]}``.
    """
    named = measure if isinstance(measure, Mapping) else None
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(sizes))
    if named is not None:
        parser.add_argument("--repeat", type=int, default=repeat, help="runs of each measurement per size")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=list(named or ()), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = named[args.measure] if named is not None else measure
        assert callable(fn)
        print(json.dumps(fn(args.child)))
        return []

    def child(config: Path, name: str | None) -> dict[str, Any]:
        extra = ["--measure", name] if name is not None else []
        out = subprocess.run(
            [sys.executable, "-m", module, "--child", str(config), *extra],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"{module} --measure {name} failed:\n{out.stderr}")
        measured: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return measured

    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            config = prepare(size, Path(tmp))
            if named is None:
                row = child(config, None)
            else:
                row = {name: [] for name in named}
                for _ in range(max(1, args.repeat)):
                    for name in named:
                        row[name].append(child(config, name))
            if outside is not None:
                row.update(outside(config))
            rows.append(row)
    return rows
