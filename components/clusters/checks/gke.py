"""GKE rules the spec model cannot check alone: settings, names, ranges and their room to grow, labels.

Pure (no Pulumi, no Google SDK), so the offline plan runs exactly the rules the component runs before it
registers anything. Each would otherwise fail only after the network (and often the cluster) had been
created, leaving a half-built environment behind.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from components.clusters.spec import GkeClusterSpec, GkeNodePool, GkeSettings, read_settings
from components.replacement import DIGEST_LENGTH

#: A regional node pool is replicated into this many zones of the region unless node locations are given;
#: the spec's pool sizes are per zone (see docs/targets/gke.md).
ZONES_PER_REGION = 3
#: With the default 110 pods per node GKE gives every node a /24 from the pods range.
POD_RANGE_PER_NODE = 24
#: GKE cluster and node pool names: 1-40 characters, a lowercase letter first, no trailing hyphen.
GKE_NAME_MAX = 40
#: A pool's GKE name is its name, a hyphen and a digest of the fields that force replacement.
POOL_NAME_MAX = GKE_NAME_MAX - 1 - DIGEST_LENGTH
_GKE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
#: Authorized-network limits of the control plane firewall.
AUTHORIZED_NETWORKS_MAX_PUBLIC = 50
AUTHORIZED_NETWORKS_MAX_PRIVATE = 100
#: GCP resources take at most 64 labels.
GCP_LABELS_MAX = 64


# ----------------------------------------------------------------------------------------- GCP labels


_LABEL_INVALID = re.compile(r"[^a-z0-9_-]")
#: GCP label keys and values are at most 63 characters.
GCP_LABEL_MAX = 63
GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def gcp_label_value(value: str) -> str:
    """``value`` as a GCP label value: lowercase ``[a-z0-9_-]``, at most 63 characters.

    Tags are written for people (``Owner: Platform Team``); GCP refuses anything but lowercase letters,
    digits, ``_`` and ``-``, so every other character becomes ``_`` rather than failing a deployment over
    a tag. Only ASCII is kept: ``str.lower`` of some characters yields several, which could otherwise push
    a value past the limit or introduce characters GCP does not accept.
    """
    lowered = "".join(c.lower() if c.isascii() else "_" for c in value)
    return _LABEL_INVALID.sub("_", lowered)[:GCP_LABEL_MAX]


def gcp_label_key(key: str) -> str:
    """``key`` as a GCP label key: like a value, but never empty and always starting with a letter."""
    cleaned = gcp_label_value(key)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = ("k_" + cleaned)[:GCP_LABEL_MAX]
    return cleaned


def gcp_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Tags and spec labels as GCP labels; two keys that sanitise alike must carry the same value.

    Raises ``ValueError`` (field ``labels``) when two different keys collapse into one with different values
    -- silently keeping either would drop a tag someone relies on -- or when there are more than GCP allows.
    """
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in labels.items():
        k, v = gcp_label_key(key), gcp_label_value(value)
        if k in out and out[k] != v:
            raise ValueError(
                f"labels: {origin[k]!r} and {key!r} both become the GCP label {k!r} but with different values "
                f"({out[k]!r}, {v!r}); rename one of them"
            )
        out[k] = v
        origin.setdefault(k, key)
    if len(out) > GCP_LABELS_MAX:
        raise ValueError(f"labels: {len(out)} labels (tags and spec labels together); GCP allows {GCP_LABELS_MAX}")
    return out


# ----------------------------------------------------------------------------------------- validation


def validate_settings(settings: Mapping[str, Mapping[str, Any]] | None) -> GkeSettings:
    """The profile's cluster settings as :class:`GkeSettings`; errors name the settings path."""
    return read_settings(GkeSettings, settings)


def _check_network(spec: GkeClusterSpec) -> None:
    for field in ("subnet_cidr", "pods_cidr", "services_cidr", "master_ipv4_cidr"):
        value = getattr(spec, field)
        if ipaddress.ip_network(value).version != 4:
            raise ValueError(f"{field}: {value} is IPv6; GKE node, pod, service and control plane ranges are IPv4")
    for i, cidr in enumerate(spec.master_authorized_networks):
        if ipaddress.ip_network(cidr).version != 4:
            raise ValueError(f"master_authorized_networks[{i}]: {cidr} is IPv6; authorized networks are IPv4")

    if spec.private_endpoint and not spec.private_nodes:
        raise ValueError("private_endpoint: a private control plane endpoint needs private_nodes: true")
    if spec.private_endpoint and not spec.master_authorized_networks:
        # Only the VPC itself could reach the API: not the machine running `pulumi up`, so every pack would
        # fail after the cluster exists. Name the network (VPN, bastion, CI runners) that deploys.
        raise ValueError(
            "master_authorized_networks: with private_endpoint: true list at least one network that may reach "
            "the control plane (the VPN, bastion or CI runners that deploy); otherwise nothing outside the "
            "cluster's VPC can reach it, including this deployment"
        )
    limit = AUTHORIZED_NETWORKS_MAX_PRIVATE if spec.private_nodes else AUTHORIZED_NETWORKS_MAX_PUBLIC
    if len(spec.master_authorized_networks) > limit:
        raise ValueError(
            f"master_authorized_networks: {len(spec.master_authorized_networks)} entries; "
            f"GKE allows {limit} for a {'private' if spec.private_nodes else 'public'} cluster"
        )

    # Every node takes a /24 of the pods range and an address of the subnet; a pool that cannot grow to its
    # max_size fails only when the autoscaler needs the nodes, so check it now.
    most = sum(p.max_size for p in spec.node_pools) * ZONES_PER_REGION
    pods = ipaddress.ip_network(spec.pods_cidr)
    pod_nodes = 2 ** (POD_RANGE_PER_NODE - pods.prefixlen) if pods.prefixlen <= POD_RANGE_PER_NODE else 0
    if pod_nodes < most:
        raise ValueError(
            f"pods_cidr: {spec.pods_cidr} holds pod ranges (a /{POD_RANGE_PER_NODE} each) for {pod_nodes} nodes, "
            f"but the node pools may grow to {most} nodes (max_size per zone x {ZONES_PER_REGION} zones)"
        )
    subnet = ipaddress.ip_network(spec.subnet_cidr)
    # GCP reserves four addresses in every subnet.
    subnet_nodes = subnet.num_addresses - 4
    if subnet_nodes < most:
        raise ValueError(
            f"subnet_cidr: {spec.subnet_cidr} has {max(subnet_nodes, 0)} usable addresses, but the node pools may "
            f"grow to {most} nodes (max_size per zone x {ZONES_PER_REGION} zones)"
        )


def _check_pools(pools: Sequence[GkeNodePool]) -> None:
    for i, pool in enumerate(pools):
        where = f"node_pools[{i}]"
        if len(pool.name) > POOL_NAME_MAX or not _GKE_NAME.match(pool.name):
            raise ValueError(
                f"{where}.name: node pool names are 1-{POOL_NAME_MAX} characters (GKE's {GKE_NAME_MAX} less a "
                f"{DIGEST_LENGTH + 1}-character replacement suffix) and start with a lowercase letter, "
                f"got {pool.name!r}"
            )
        if pool.system and pool.min_size < 1:
            raise ValueError(
                f"{where}.min_size: a system pool needs at least one node per zone (cluster-critical add-ons "
                f"run there), got {pool.min_size}"
            )


def validate(
    spec: GkeClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None,
    tags: Mapping[str, str] | None = None,
    config: object = None,
) -> tuple[GkeSettings, dict[str, str]]:
    """Every GKE-specific rule the spec model cannot know, checked before a single resource exists.

    Returns the parsed settings and the GCP labels. Each rule here would otherwise fail only after the
    network (and often the cluster) had been created, leaving a half-built environment behind. ``config`` is
    accepted for the common signature: a GKE spec holds no secret reference.
    """
    del config
    parsed = validate_settings(settings)
    for field, value in (("name", spec.name), ("renamed_from[0]", spec.cloud_name)):
        if len(value) > GKE_NAME_MAX or not _GKE_NAME.match(value):
            raise ValueError(
                f"{field}: GKE cluster names are 1-{GKE_NAME_MAX} characters and start with a lowercase letter, "
                f"got {value!r}"
            )
    _check_network(spec)
    _check_pools(spec.node_pools)
    labels = gcp_labels({**dict(tags or {}), **spec.labels})
    return parsed, labels
