"""Write a cluster's delivery as plain files: a bundle to commit to Git or push as an OCI artifact.

Pure (no Pulumi). One folder per cluster, byte-identical across runs (keys sorted, objects in plan order, no
timestamps), so a re-render of an unchanged plan is no diff and a changed plan is exactly its change:

``--delivery flux`` (a folder a Flux ``Kustomization`` on the site syncs):

- ``kustomization.yaml`` -- lists the files below in apply order;
- ``namespaces.yaml`` -- the packs' namespaces, labelled as ``PackStack`` labels them;
- ``<pack>.yaml`` -- per Helm pack its source and ``HelmRelease``; per manifest pack a Flux ``Kustomization``
  of ``manifests/<pack>/`` in the bundle's own source (it retries until its CRDs are installed);
- ``manifests/<pack>/`` -- a manifest pack's files, byte for byte, and their ``kustomization.yaml``;
- ``strata-bundle.yaml`` -- not applied (``kustomization.yaml`` does not list it): the cluster, the delivery,
  the Flux controllers the site must run, the Secrets it must hold (name, namespace, keys and what fills them,
  never a value), and the packs Pulumi applies directly (cloud add-ons).

``--delivery pulumi`` renders what Pulumi applies today, as far as that exists offline: Helm charts are
templated by the provider at deploy time (helm is not run here), so each Helm pack is written as the inputs
Pulumi gives ``kubernetes:helm.sh/v4:Chart`` (chart, repository, version, namespace, values without the
deploy-time ones); namespaces and manifest packs are the real objects. Comparing both renders of a plan
shows the same packs, versions, order and values.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.delivery.flux import (
    SYSTEM_NAMESPACES,
    FluxBundle,
    chart_location,
    namespace_object,
    split_values,
)
from components.delivery.plan import DeliveryPlan
from packs.model import HelmSource, Source
from packs.resolve import ResolvedPlan

#: The file that marks a folder as a strata bundle (and is the only one a re-render may replace wholesale).
MARKER = "strata-bundle.yaml"
BUNDLE_SCHEMA = "strata.bundle/v1"
#: A scalar written without quotes: it reads back as the same string (never a number, boolean, null,
#: date or anything YAML gives meaning to); everything else is written as a JSON string, which YAML reads
#: as the same double-quoted scalar.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*(:[A-Za-z0-9_./-]+)*")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "nan", "inf"})


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _text(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # YAML 1.1 readers want a dot in an exponent float: 1e-05 -> 1.0e-05
        return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
    return _text(str(value))


@functools.lru_cache(maxsize=65536)
def _text(text: str) -> str:
    """A string scalar; cached, because a fleet's bundles repeat the same few thousand strings."""
    if _PLAIN.fullmatch(text) and text.lower().lstrip(".") not in _RESERVED:
        return text
    return _ESCAPE.sub(_escaped, json.dumps(text, ensure_ascii=False))


#: What YAML does not take raw inside a double-quoted scalar: characters outside its printable set, and the
#: line breaks (NEL, LS, PS) it would fold.
_ESCAPE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Block-style YAML of plain data (maps with sorted keys, lists, scalars); ``out`` gets whole lines."""
    if isinstance(value, Mapping):
        for key in sorted(value):
            item = value[key]
            head = f"{indent}{_scalar(str(key))}:"
            if isinstance(item, Mapping) and item:
                out.append(head)
                _emit(item, indent + "  ", out)
            elif isinstance(item, list | tuple) and item:
                out.append(head)
                _emit(item, indent, out)
            else:
                out.append(f"{head} {_inline(item)}")
        return
    for item in value:
        if isinstance(item, Mapping) and item:
            lines: list[str] = []
            _emit(item, indent + "  ", lines)
            lines[0] = f"{indent}- {lines[0][len(indent) + 2 :]}"
            out.extend(lines)
        elif isinstance(item, list | tuple) and item:
            lines = []
            _emit(item, indent + "  ", lines)
            lines[0] = f"{indent}- {lines[0][len(indent) + 2 :]}"
            out.extend(lines)
        else:
            out.append(f"{indent}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return _scalar(value)


def dump(*documents: Any) -> str:
    """YAML documents with sorted keys, block style, no line folding: the same bytes for the same data.

    A small emitter for the plain data a bundle holds (PyYAML's representer cost more than everything else
    of a fleet render); what it writes reads back, with any YAML parser, as exactly the data given."""
    lines: list[str] = []
    for i, document in enumerate(documents):
        if i:
            lines.append("---")
        if isinstance(document, Mapping | list | tuple) and document:
            _emit(document, "", lines)
        else:
            lines.append(_inline(document))
    return "\n".join(lines) + "\n"


def _kustomization(resources: Iterable[str]) -> str:
    return dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": list(resources)}
    )


@dataclass(frozen=True)
class Rendered:
    cluster: str
    folder: Path
    files: int
    bytes: int


def _write(folder: Path, files: Mapping[str, bytes | str]) -> Rendered:
    """Replace ``folder`` with exactly ``files``; refuse to delete a folder strata did not write."""
    if folder.exists():
        if not (folder / MARKER).is_file():
            raise FileExistsError(
                f"{folder} exists and is not a strata bundle ({MARKER} missing); choose another --out"
            )
        shutil.rmtree(folder)
    size = 0
    for parent in sorted({(folder / name).parent for name in files}):
        parent.mkdir(parents=True, exist_ok=True)
    for name in sorted(files):
        path = folder / name
        data = files[name]
        raw = data.encode() if isinstance(data, str) else data
        path.write_bytes(raw)
        size += len(raw)
    return Rendered(folder.name, folder, len(files), size)


def _chart(source: Source, mirror: str | None) -> dict[str, Any]:
    if not isinstance(source, HelmSource):
        return {}
    location = chart_location(source, mirror)
    return {
        "chart": location.reference,
        "repository": None if location.oci else location.repository,
        "version": location.version,
    }


def flux_files(bundle: FluxBundle, delivery: DeliveryPlan) -> dict[str, bytes | str]:
    """The files of a cluster's Flux bundle, by path relative to the cluster's folder."""
    files: dict[str, bytes | str] = {}
    resources: list[str] = []
    if bundle.namespaces:
        files["namespaces.yaml"] = dump(*bundle.namespaces)
        resources.append("namespaces.yaml")
    for pack in bundle.packs:
        files[f"{pack.pack}.yaml"] = dump(*pack.objects)
        resources.append(f"{pack.pack}.yaml")
        if pack.files:
            names = [f.name for f in pack.files]
            for f in pack.files:
                files[f"manifests/{pack.pack}/{f.name}"] = f.read_bytes()
            files[f"manifests/{pack.pack}/kustomization.yaml"] = _kustomization(names)
    files["kustomization.yaml"] = _kustomization(resources)
    controllers = delivery.controllers.packs if delivery.controllers is not None else ()
    files[MARKER] = dump(
        {
            "schema": BUNDLE_SCHEMA,
            "cluster": bundle.cluster,
            "delivery": "flux",
            "mirror": bundle.mirror,
            "controllers": [
                {"pack": p.ref, "namespace": p.namespace, **_chart(p.source, bundle.mirror)} for p in controllers
            ],
            "secrets": [s.as_dict() for s in bundle.secrets],
            "applied_by_pulumi": list(bundle.direct),
        }
    )
    return files


def pulumi_files(plan: ResolvedPlan, mirror: str | None) -> dict[str, bytes | str]:
    """What ``delivery: pulumi`` applies, as far as it exists without helm (see the module docstring)."""
    cluster = plan.cluster.name
    files: dict[str, bytes | str] = {}
    namespaces: dict[str, Any] = {}
    resources: list[str] = []
    releases: list[dict[str, Any]] = []
    direct = []
    for pack in plan.packs:
        if pack.cluster_setting:
            continue
        if pack.namespace and pack.namespace not in SYSTEM_NAMESPACES:
            namespaces.setdefault(pack.namespace, namespace_object(cluster, pack))
        src = pack.source
        if src.kind == "helm":
            location = chart_location(src, mirror)
            inline, _ = split_values(pack.values, pack.deferred)
            releases.append(
                {
                    "pack": pack.ref,
                    "resource": "kubernetes:helm.sh/v4:Chart",
                    "name": pack.first_name,  # the release name Pulumi gives the chart
                    "namespace": pack.namespace,
                    "chart": location.reference,
                    "repository": None if location.oci else location.repository,
                    "version": location.version,
                    "values": inline,
                    "deploy_time_values": list(pack.deferred),
                    "after": list(pack.after),
                }
            )
        elif src.kind == "manifests":
            for f in src.files:
                files[f"manifests/{pack.name}/{Path(f).name}"] = (Path(pack.folder) / f).read_bytes()
                resources.append(f"manifests/{pack.name}/{Path(f).name}")
        else:
            direct.append(pack.name)
    if namespaces:
        files["namespaces.yaml"] = dump(*namespaces.values())
        resources.insert(0, "namespaces.yaml")
    files["kustomization.yaml"] = _kustomization(resources)
    files["helm-charts.yaml"] = dump({"charts": releases})
    files[MARKER] = dump(
        {
            "schema": BUNDLE_SCHEMA,
            "cluster": cluster,
            "delivery": "pulumi",
            "mirror": mirror,
            "controllers": [],
            "secrets": [],  # Pulumi fills deploy-time values itself (see each chart's deploy_time_values)
            "applied_by_pulumi": direct,
        }
    )
    return files


def write_bundle(out: Path, cluster: str, files: Mapping[str, bytes | str]) -> Rendered:
    return _write(out / cluster, files)
