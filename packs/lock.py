"""Released pack and profile versions are immutable: their digests are recorded in ``packs/released.lock``.

Editing a released version in place is how a profile bump silently changes clusters that never asked for
it. The lock makes that visible: the catalogue lint fails when a recorded version's content changes, and
``python -m packs.lock`` records new versions but refuses to rewrite an existing digest -- a change is a
new version, never an edit.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from packs.catalogue import PACKS_DIR

LOCK = PACKS_DIR / "released.lock"


def _digest_files(files: list[Path], base: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(base)).encode())
        h.update(b"\0")
        h.update(f.read_bytes().replace(b"\r\n", b"\n"))
        h.update(b"\0")
    return h.hexdigest()


def current(packs_dir: Path = PACKS_DIR) -> dict[str, str]:
    """``pack:<name>@<version>`` / ``profile:<name>@<version>`` -> sha256 of the released content."""
    out: dict[str, str] = {}
    for folder in sorted((packs_dir / "catalog").glob("*/*/")):
        files = [f for f in folder.rglob("*") if f.is_file()]
        if files:
            out[f"pack:{folder.parent.name}@{folder.name}"] = _digest_files(files, folder)
    for file in sorted((packs_dir / "profiles").glob("*/*.yaml")):
        out[f"profile:{file.parent.name}@{file.stem}"] = _digest_files([file], file.parent)
    return out


def recorded(lock: Path = LOCK) -> dict[str, str]:
    if not lock.exists():
        return {}
    entries = {}
    for line in lock.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, digest = line.split()
            entries[key] = digest
    return entries


def changed(packs_dir: Path = PACKS_DIR, lock: Path = LOCK) -> tuple[list[str], list[str]]:
    """(released versions whose content changed, versions not recorded yet)."""
    now, then = current(packs_dir), recorded(lock)
    return (
        sorted(k for k in then if k in now and now[k] != then[k]),
        sorted(k for k in now if k not in then),
    )


def main() -> int:
    edited, new = changed()
    if edited:
        print("released versions were edited; make a new version instead:", *edited, sep="\n  ", file=sys.stderr)
        return 1
    entries = {**recorded(), **{k: current()[k] for k in new}}
    lines = [
        "# sha256 of every released pack and profile version; see packs/lock.py",
        *(f"{k} {v}" for k, v in sorted(entries.items())),
    ]
    LOCK.write_text("\n".join(lines) + "\n")
    print(f"recorded {len(new)} new version(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
