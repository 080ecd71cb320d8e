"""Build small in-memory or on-disk catalogues for tests, so each rule is tested in isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from packs.catalogue import CatalogPack, CatalogProfile, Catalogue
from packs.model import ClusterFacts, Pack, Profile, Target


def pack(name: str, layer: str = "addon", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    """A valid pack document with sensible defaults; ``extra`` overrides any field."""
    doc: dict[str, Any] = {
        "name": name,
        "version": version,
        "layer": layer,
        "description": f"{name} for tests",
        "source": {"kind": "helm", "repository": "https://charts.example.com", "chart": name, "version": version},
        "namespace": name,
        "constraints": {"targets": ["eks", "aks", "gke", "edge", "existing"]},
    }
    if layer != "cni":
        doc["requires"] = ["cni"]
    else:
        doc["provides"] = ["cni"]
    doc.update(extra)
    return doc


def profile(name: str, layers: list[dict[str, Any]], version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": f"{name} for tests",
        "kind": "infrastructure",
        "targets": ["eks", "aks", "gke", "edge", "existing"],
        "layers": layers,
    }
    doc.update(extra)
    return doc


def in_memory(
    packs: list[dict[str, Any]], profiles: list[dict[str, Any]], values: dict[str, Any] | None = None
) -> Catalogue:
    values = values or {}
    loaded = {}
    for doc in packs:
        p = Pack.model_validate(doc)
        file = f"packs/catalog/{p.name}/{p.version}/pack.yaml"
        vals = values.get(p.name, {})
        loaded[(p.name, p.version)] = CatalogPack(
            p, vals, file, file.replace("pack.yaml", "values.yaml") if vals else None, Path(file).parent
        )
    profs = {}
    for doc in profiles:
        pr = Profile.model_validate(doc)
        profs[(pr.name, pr.version)] = CatalogProfile(pr, f"packs/profiles/{pr.name}/{pr.version}.yaml")
    return Catalogue(loaded, profs)


def on_disk(
    root: Path, packs: list[dict[str, Any]], profiles: list[dict[str, Any]], values: dict[str, Any] | None = None
) -> Path:
    """Write a catalogue under ``root/packs``; return that folder."""
    base = root / "packs"
    for folder in ("catalog", "profiles"):  # a catalogue always has both, even when one is empty
        (base / folder).mkdir(parents=True, exist_ok=True)
    for doc in packs:
        folder = base / "catalog" / doc["name"] / doc["version"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pack.yaml").write_text(yaml.safe_dump(doc))
        if values and doc["name"] in values:
            (folder / "values.yaml").write_text(yaml.safe_dump(values[doc["name"]]))
    for doc in profiles:
        folder = base / "profiles" / doc["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{doc['version']}.yaml").write_text(yaml.safe_dump(doc))
    return base


def facts(name: str = "c1", target: Target | str = Target.EDGE, version: str = "1.31", **extra: Any) -> ClusterFacts:
    return ClusterFacts(name=name, target=Target(target), kubernetes_version=version, **extra)
