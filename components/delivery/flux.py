"""The Flux objects of a resolved plan: pure data, shared by ``strata plan``, ``strata render`` and the program.

One function, :func:`flux_bundle`, turns a cluster's plan into the objects Flux reconciles, so the bundle a
site pulls from Git and the custom resources ``pulumi up`` registers are the same objects by construction:

- each Helm pack gets a source and a ``HelmRelease`` (``helm.toolkit.fluxcd.io/v2``). Charts from an HTTP
  repository get a ``HelmRepository``; OCI charts (and every chart behind a mirror) an ``OCIRepository``
  pinned to the chart's tag and referenced through ``chartRef``, the way Flux recommends for OCI charts
  (``HelmRepository`` of ``type: oci`` is the older, index-less form it steers users away from);
- the release carries the pinned chart version, the plan's values inline, and every value filled at deploy
  time (``{{ secret.* }}``, ``{{ identity.* }}``) from a Kubernetes Secret through ``valuesFrom``: the Secret
  is created by Pulumi with secret data, or held by the site when the bundle is rendered, and never written;
- ``dependsOn`` is the plan's ordering edges (``after``); an edge to a pack Flux does not install (a manifest
  pack, a cloud add-on) reaches through it to the releases that pack itself follows;
- CRDs are created on install and created-or-replaced on upgrade, install and upgrade failures are retried
  (an upgrade is rolled back first), and ``driftDetection.mode`` follows the layer's drift policy
  (``heal`` -> ``enabled``, ``alert`` -> ``warn``, ``ignore`` -> ``disabled``).

Cluster-setting packs stay with the cluster component. Manifest packs are applied by Pulumi in the program
(there is no artifact for Flux to fetch them from); in a rendered bundle their files sit beside the Flux
objects with a Flux ``Kustomization`` each, pointing at the bundle's own source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.delivery.plan import DeliveryPlan
from packs.model import DriftAction, HelmSource, Layer, ManagedService
from packs.paths import get, parse_path
from packs.resolve import PLACEHOLDER, ResolvedPack, ResolvedPlan

FLUX_NAMESPACE = "flux-system"
HELM_RELEASE_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
#: The key of a pack's deploy-time values Secret: one YAML document merged under the release's values.
VALUES_KEY = "values.yaml"
#: Namespaces every cluster already has; creating them would fight the API server over ownership.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
#: The layer's drift policy as helm-controller's drift detection mode.
DRIFT_MODES: Mapping[DriftAction, str] = {
    DriftAction.HEAL: "enabled",
    DriftAction.ALERT: "warn",
    DriftAction.IGNORE: "disabled",
}
#: Helm charts pushed to an OCI registry carry their tarball in a layer of this media type.
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
RETRIES = 3
RELEASE_INTERVAL = "10m"
#: Charts are pinned to an exact version: the source only needs re-reading to notice a deleted chart.
SOURCE_INTERVAL = "1h"
RELEASE_TIMEOUT = "10m"


@dataclass(frozen=True)
class ChartLocation:
    """Where a Helm pack's chart is fetched from, after any mirror rewrite; the pack's data is untouched."""

    oci: bool
    repository: str  # https://... for an HTTP repository; the chart's full oci://.../<chart> reference for OCI
    chart: str
    version: str

    @property
    def reference(self) -> str:
        """What ``helm install`` (and ``helm.v4.Chart``'s ``chart``) takes: the OCI reference or the chart name."""
        return self.repository if self.oci else self.chart


def chart_location(source: HelmSource, mirror: str | None = None) -> ChartLocation:
    """The chart's location; with ``mirror`` (``oci://registry.site.local/charts``) every chart, HTTP or OCI,
    is fetched from ``<mirror>/<chart>`` at the same version tag, so an air-gapped site needs one registry."""
    if mirror:
        return ChartLocation(True, f"{mirror.rstrip('/')}/{source.chart}", source.chart, source.version)
    if source.repository.startswith("oci://"):
        return ChartLocation(True, f"{source.repository.rstrip('/')}/{source.chart}", source.chart, source.version)
    return ChartLocation(False, source.repository, source.chart, source.version)


def split_values(values: Mapping[str, Any], deferred: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(inline, deploy_time)``: the values without the deferred leaves, and a tree of only those leaves.

    Value paths address map keys only (lists are leaves), so the two trees merge back into ``values``
    exactly; emptied parent maps are dropped from ``inline`` so no empty map overrides a chart default.
    """
    inline: dict[str, Any] = _copy(values)
    later: dict[str, Any] = {}
    for text in deferred:
        path = parse_path(text)
        value = get(values, path)
        node = later
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        _remove(inline, path)
    return inline, later


def _copy(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


def _remove(tree: dict[str, Any], path: tuple[str, ...]) -> None:
    if len(path) == 1:
        tree.pop(path[0], None)
        return
    child = tree.get(path[0])
    if isinstance(child, dict):
        _remove(child, path[1:])
        if not child:
            del tree[path[0]]


@dataclass(frozen=True)
class SiteSecret:
    """A Secret a release reads its deploy-time values from: name, namespace and keys, never a value."""

    name: str
    namespace: str
    keys: tuple[str, ...]
    pack: str
    #: Value paths it holds, and what fills them (``secret.<variable>``, ``identity.<field>``).
    paths: tuple[str, ...]
    fills: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "keys": list(self.keys),
            "pack": self.pack,
            "paths": list(self.paths),
            "fills": list(self.fills),
        }


@dataclass(frozen=True)
class PackObjects:
    """What delivers one pack through Flux: its objects in apply order and the Secret it reads, if any."""

    pack: str
    kind: str  # "helm" (source + HelmRelease) or "manifests" (a Kustomization over the bundle's own folder)
    objects: tuple[dict[str, Any], ...]
    secret: SiteSecret | None = None
    files: tuple[Path, ...] = ()  # a manifest pack's files, copied into a rendered bundle


@dataclass(frozen=True)
class FluxBundle:
    """A cluster's delivery through Flux: namespaces, then each pack's objects in plan order."""

    cluster: str
    mirror: str | None
    namespaces: tuple[dict[str, Any], ...]
    packs: tuple[PackObjects, ...]
    #: Packs neither Flux nor the bundle can deliver (cloud add-ons): Pulumi applies them directly.
    direct: tuple[str, ...] = field(default=())

    @property
    def secrets(self) -> tuple[SiteSecret, ...]:
        return tuple(p.secret for p in self.packs if p.secret is not None)

    def objects(self) -> list[dict[str, Any]]:
        return [*self.namespaces, *(o for p in self.packs for o in p.objects)]


def _labels(cluster: str, pack: ResolvedPack) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "strata",
        "strata.io/cluster": cluster,
        "strata.io/pack": pack.name,
        "strata.io/layer": pack.layer.value,
    }


def namespace_object(cluster: str, pack: ResolvedPack) -> dict[str, Any]:
    """The namespace a pack installs into, labelled as ``PackStack`` labels it."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": pack.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "strata",
                "strata.io/cluster": cluster,
                "strata.io/pack": pack.name,
            },
        },
    }


def values_secret_name(pack: str) -> str:
    return f"{pack}-strata-values"


def source_object(cluster: str, pack: ResolvedPack, location: ChartLocation) -> dict[str, Any]:
    meta = {"name": pack.first_name, "namespace": FLUX_NAMESPACE, "labels": _labels(cluster, pack)}
    if location.oci:
        return {
            "apiVersion": SOURCE_API,
            "kind": "OCIRepository",
            "metadata": meta,
            "spec": {
                "interval": SOURCE_INTERVAL,
                "url": location.repository,
                "ref": {"tag": location.version},
                "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
            },
        }
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": meta,
        "spec": {"interval": SOURCE_INTERVAL, "url": location.repository},
    }


def helm_release(
    cluster: str,
    pack: ResolvedPack,
    location: ChartLocation,
    drift: DriftAction,
    depends_on: list[str],
    inline: Mapping[str, Any],
    secret: SiteSecret | None,
    suspend: bool = False,
) -> dict[str, Any]:
    """A pack's ``HelmRelease``. Its names (object, release, storage) are the ones ``delivery: pulumi`` gives the
    pack's chart -- the pack's first name, its namespace -- so either delivery can take over the other's running
    release; ``suspend`` (a switch to Pulumi under way) stops Flux reconciling it, and uninstalling it when the
    object is deleted."""
    namespace = pack.namespace or "default"
    spec: dict[str, Any] = {
        "interval": RELEASE_INTERVAL,
        "timeout": RELEASE_TIMEOUT,
        "releaseName": pack.first_name,
        "targetNamespace": namespace,
        "storageNamespace": namespace,
        "install": {"crds": "Create", "remediation": {"retries": RETRIES}},
        "upgrade": {
            "crds": "CreateReplace",
            "cleanupOnFail": True,
            "remediation": {"retries": RETRIES, "remediateLastFailure": True, "strategy": "rollback"},
        },
        "driftDetection": {"mode": DRIFT_MODES[drift]},
    }
    if location.oci:
        spec["chartRef"] = {"kind": "OCIRepository", "name": pack.first_name, "namespace": FLUX_NAMESPACE}
    else:
        spec["chart"] = {
            "spec": {
                "chart": location.chart,
                "version": location.version,
                "sourceRef": {"kind": "HelmRepository", "name": pack.first_name, "namespace": FLUX_NAMESPACE},
                "interval": SOURCE_INTERVAL,
            }
        }
    if depends_on:
        spec["dependsOn"] = [{"name": d, "namespace": FLUX_NAMESPACE} for d in depends_on]
    if inline:
        spec["values"] = dict(inline)
    if secret is not None:
        spec["valuesFrom"] = [{"kind": "Secret", "name": secret.name, "valuesKey": VALUES_KEY}]
    if suspend:
        spec["suspend"] = True
    return {
        "apiVersion": HELM_RELEASE_API,
        "kind": "HelmRelease",
        "metadata": {"name": pack.first_name, "namespace": FLUX_NAMESPACE, "labels": _labels(cluster, pack)},
        "spec": spec,
    }


def manifests_kustomization(
    cluster: str, pack: ResolvedPack, path: str, source_kind: str, source_name: str
) -> dict[str, Any]:
    """A manifest pack in a rendered bundle: Flux applies its folder of the bundle's own source, and retries
    (``retryInterval``) until the CRDs its objects need have been installed by their releases."""
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": {"name": pack.first_name, "namespace": FLUX_NAMESPACE, "labels": _labels(cluster, pack)},
        "spec": {
            "interval": RELEASE_INTERVAL,
            "retryInterval": "1m",
            "timeout": "5m",
            "path": path,
            "prune": True,
            "wait": True,
            "sourceRef": {"kind": source_kind, "name": source_name, "namespace": FLUX_NAMESPACE},
        },
    }


def bootstrap_packs(plan: ResolvedPlan, delivery: DeliveryPlan) -> frozenset[str]:
    """Packs Pulumi must install directly, before Flux: those the controllers need to run (a CNI chart such as
    cilium: no pod starts without it) and, transitively, the packs those follow. Flux cannot install what it
    needs to run itself."""
    by_name = {p.name: p for p in plan.packs}
    found: set[str] = set()
    todo = list(delivery.controllers_after(plan))
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(by_name[name].after)
    return frozenset(found)


def release_dependencies(plan: ResolvedPlan, bootstrap: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Each Helm pack's ``dependsOn``: its ``after`` edges, reaching through packs Flux does not install
    (manifests, cloud add-ons, ``bootstrap`` packs Pulumi installs before Flux)."""
    by_name = {p.name: p for p in plan.packs}

    def is_flux_delivered(pack: ResolvedPack) -> bool:
        return pack.source.kind == "helm" and pack.name not in bootstrap

    memo: dict[str, list[str]] = {}

    def reach(name: str) -> list[str]:
        if name not in memo:
            pack = by_name[name]
            found: list[str] = []
            for a in pack.after:
                for d in [a] if is_flux_delivered(by_name[a]) else reach(a):
                    if d not in found:
                        found.append(d)
            memo[name] = found
        return memo[name]

    return {p.name: reach(p.name) for p in plan.packs if is_flux_delivered(p) and not p.cluster_setting}


def pack_secret(pack: ResolvedPack) -> SiteSecret | None:
    """The deploy-time values Secret of a pack, when its values hold any ``{{ secret.* }}``/``{{ identity.* }}``."""
    if not pack.deferred:
        return None
    fills = sorted(
        {
            m.group(1) + m.group(2)
            for p in pack.deferred
            for m in PLACEHOLDER.finditer(_text(get(pack.values, parse_path(p))))
        }
    )
    return SiteSecret(
        name=values_secret_name(pack.first_name),
        namespace=FLUX_NAMESPACE,
        keys=(VALUES_KEY,),
        pack=pack.name,
        paths=pack.deferred,
        fills=tuple(fills),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def flux_bundle(
    plan: ResolvedPlan,
    drift: Mapping[Layer, DriftAction],
    mirror: str | None = None,
    manifests_source: tuple[str, str] = ("GitRepository", FLUX_NAMESPACE),
    manifests_root: str = "",
    bootstrap: frozenset[str] = frozenset(),
    suspend: bool = False,
) -> FluxBundle:
    """The Flux delivery of ``plan``; ``drift`` is the cluster's policy per layer (``ClusterPlan.drift``).

    Objects are named after each pack's first name, as its chart is under ``delivery: pulumi`` (a renamed pack
    keeps its release); ``suspend`` suspends every release, the first step of a switch to ``delivery: pulumi``.

    Manifest packs become Kustomizations of ``<manifests_root>/<cluster>/manifests/<pack>`` in the source
    ``manifests_source`` (kind, name): the repository or OCI artifact the rendered bundle is pushed to.
    ``bootstrap`` packs (see :func:`bootstrap_packs`) are left to Pulumi, listed in ``direct``.
    """
    cluster = plan.cluster.name
    deps = release_dependencies(plan, bootstrap)
    first = {p.name: p.first_name for p in plan.packs}
    namespaces: dict[str, dict[str, Any]] = {}
    packs: list[PackObjects] = []
    direct: list[str] = []
    for pack in plan.packs:
        if pack.cluster_setting:
            continue
        if pack.namespace and pack.namespace not in SYSTEM_NAMESPACES and pack.namespace not in namespaces:
            namespaces[pack.namespace] = namespace_object(cluster, pack)
        src = pack.source
        if pack.name in bootstrap:
            direct.append(pack.name)
        elif src.kind == "helm":
            location = chart_location(src, mirror)
            secret = pack_secret(pack)
            inline, _ = split_values(pack.values, pack.deferred)
            action = drift.get(pack.layer, DriftAction.ALERT)
            objects = (
                source_object(cluster, pack, location),
                helm_release(
                    cluster, pack, location, action, [first[d] for d in deps[pack.name]], inline, secret, suspend
                ),
            )
            packs.append(PackObjects(pack.name, "helm", objects, secret))
        elif src.kind == "manifests":
            path = "/".join(p for p in (".", manifests_root.strip("/"), cluster, "manifests", pack.name) if p)
            kustomization = manifests_kustomization(cluster, pack, path, *manifests_source)
            files = tuple(Path(pack.folder) / f for f in src.files)
            packs.append(PackObjects(pack.name, "manifests", (kustomization,), None, files))
        elif src.service is not ManagedService.CLUSTER:
            direct.append(pack.name)
    return FluxBundle(cluster, mirror, tuple(namespaces.values()), tuple(packs), tuple(direct))


def delivery_bundle(
    plan: ResolvedPlan,
    drift: Mapping[Layer, DriftAction],
    delivery: DeliveryPlan,
    manifests_source: tuple[str, str] = ("GitRepository", FLUX_NAMESPACE),
) -> FluxBundle:
    """THE Flux objects of a cluster's planned delivery: what ``strata render`` writes and ``pulumi up`` registers.
    ``manifests_source`` (kind, name) is the source a site syncs the rendered bundle from."""
    return flux_bundle(
        plan,
        drift,
        delivery.mirror,
        manifests_source=manifests_source,
        bootstrap=bootstrap_packs(plan, delivery),
        suspend=delivery.next is not None,
    )
