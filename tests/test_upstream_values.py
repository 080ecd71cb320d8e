"""Every values key a Helm pack writes exists in the upstream chart's own values at the pinned version.

A misspelt key is silently ignored by Helm: the chart installs, the setting never applies. The upstream
``values.yaml`` files live in ``../shared/upstream/chart-values/<pack>/<chart version>/`` when this checkout sits
beside them; without them the test skips and says so. A key is accepted when the chart declares it, when it
sits under a map the chart leaves empty or free-form (annotations, ``config``, ``extraArgs``), or when the chart
(or the subchart it belongs to) documents it as a commented example (``# adminPassword: ...``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from packs.catalogue import CatalogPack, load_catalogue
from packs.model import HelmSource
from packs.paths import format_path, leaves, parse_path

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "chart-values"
CATALOGUE = load_catalogue()
#: Maps a chart renders as free-form configuration (checked against the application's docs, not the chart).
FREE_FORM = {
    "loki": (("loki", "limits_config"), ("loki", "compactor")),
    "istiod": (("meshConfig",),),  # Istio MeshConfig (istio.mesh.v1alpha1)
}
#: Istio's charts nest their defaults under this key; values are given at the top level.
ISTIO_DEFAULTS = "_internal_defaults_do_not_set"


def _helm_packs() -> list[CatalogPack]:
    return sorted(
        (p for p in CATALOGUE.packs.values() if p.pack.source.kind == "helm"),
        key=lambda p: p.pack.ref,
    )


def _folder(loaded: CatalogPack) -> Path:
    assert isinstance(loaded.pack.source, HelmSource)  # only helm packs have upstream chart values
    return UPSTREAM / loaded.pack.name / loaded.pack.source.version.lstrip("v")


def _upstream(loaded: Any) -> Path:
    folder = _folder(loaded)
    if not (folder / "values.yaml").is_file():
        pytest.skip(f"upstream values of {loaded.pack.source.chart} {loaded.pack.source.version} not found in {folder}")
    return folder


@functools.cache
def _load(file: Path) -> tuple[str, Any]:
    text = file.read_text()
    return text, yaml.safe_load(text) or {}


def _declared(folder: Path, path: tuple[Any, ...]) -> bool:
    """True when the chart declares ``path``, leaves a map open above it, or documents it in a comment."""
    text, tree = _load(folder / "values.yaml")
    if _in_tree(tree, path) or _in_tree(tree.get(ISTIO_DEFAULTS, {}), path):
        return True
    if any(path[: len(prefix)] == prefix for prefix in FREE_FORM.get(folder.parent.name, ())):
        return True
    documented = [text]
    subchart = folder / "charts" / str(path[0]) / "values.yaml"
    if len(path) > 1 and subchart.is_file():
        sub_text, sub_tree = _load(subchart)
        if _in_tree(sub_tree, path[1:]):
            return True
        documented.append(sub_text)
    key = re.escape(str(path[-1]))
    return any(re.search(rf"^\s*#\s*{key}:", t, re.M) for t in documented)


def _in_tree(upstream: Any, path: tuple[Any, ...]) -> bool:
    node = upstream
    for part in path:
        if not isinstance(node, dict):
            return False
        if not node:  # an empty map: the chart's free-form extension point
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _written_paths(loaded: Any) -> dict[str, str]:
    """Every values path the pack writes -> where it is written (values.yaml, an overlay, a variable)."""
    pack = loaded.pack
    out = {format_path(p): "values.yaml" for p, _ in leaves(loaded.values)}
    for target, overlay in pack.overlays.items():
        out |= {format_path(p): f"overlays.{target.value}" for p, _ in leaves(overlay)}
    out |= {v.path: f"variables.{v.name}" for v in pack.variables}
    return out


@pytest.mark.parametrize("loaded", _helm_packs(), ids=lambda p: p.pack.ref)
def test_pack_values_exist_in_the_upstream_chart(loaded: Any) -> None:
    folder = _upstream(loaded)
    unknown = [
        f"{path} ({where})"
        for path, where in sorted(_written_paths(loaded).items())
        if not _declared(folder, parse_path(path))
    ]
    assert not unknown, f"{loaded.file}: keys the chart does not declare: {unknown}"


def test_profile_values_and_locks_exist_in_the_upstream_chart() -> None:
    checked = 0
    for profile in CATALOGUE.profiles.values():
        for j, entry in enumerate(profile.profile.layers):
            loaded = CATALOGUE.pack(entry.pack_name, entry.pack_version)
            if loaded is None or loaded.pack.source.kind != "helm":
                continue
            folder = _folder(loaded)
            if not (folder / "values.yaml").is_file():
                continue
            paths = [format_path(p) for p, _ in leaves(entry.values)] + list(entry.locks)
            for path in paths:
                assert _declared(folder, parse_path(path)), f"{profile.file}: layers[{j}]: {path} is not a chart key"
                checked += 1
    if not checked:
        pytest.skip(f"no upstream chart values found under {UPSTREAM}")
