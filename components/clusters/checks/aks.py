"""AKS rules the spec model cannot check alone: settings, names, Entra ids, network ranges, agent pools.

Pure (no Pulumi, no Azure SDK), so the offline plan runs exactly the rules the component runs before it
registers anything. Each would otherwise fail only after the resource group (and sometimes the cluster) had
been created, leaving a half-built environment behind.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from components.clusters.spec import AksClusterSpec, AksNodePool, AksSettings, read_settings

#: Address space of the virtual network AKS creates when none is given; pods and services must stay clear of it.
AKS_MANAGED_VNET = ipaddress.ip_network("10.224.0.0/12")
#: Ranges AKS refuses for the service (and overlay pod) address range.
AKS_RESERVED_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")
)
#: DNS prefixes are 1-54 characters: the API server FQDN adds a random suffix and the region's zone.
DNS_PREFIX_MAX = 54
#: AKS refuses system pools that cannot hold its own add-ons.
SYSTEM_POOL_MIN_PODS = 30
RESERVED_LABEL_PREFIXES = ("kubernetes.azure.com/",)
#: Azure Resource Manager tags: at most 50 per resource, names of 1-512 characters without these characters,
#: values of at most 256 characters. The component adds none of its own.
AZURE_TAGS_MAX = 50
AZURE_TAG_NAME_MAX = 512
AZURE_TAG_VALUE_MAX = 256
AZURE_TAG_NAME_FORBIDDEN = frozenset("<>%&\\?/")


def validate_settings(settings: Mapping[str, Mapping[str, Any]] | None) -> AksSettings:
    """The profile's cluster settings as :class:`AksSettings`; errors name the settings path."""
    return read_settings(AksSettings, settings)


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _check_network(spec: AksClusterSpec, settings: AksSettings) -> None:
    net = settings.network
    if net.network_dataplane == "cilium":
        if net.network_plugin_mode != "overlay":
            raise ValueError(
                "settings.network.network_plugin_mode: the cilium dataplane needs overlay mode here (pods get no "
                f"subnet of their own), got {net.network_plugin_mode!r}"
            )
        if net.network_policy not in ("cilium", None):
            raise ValueError(
                "settings.network.network_policy: the cilium dataplane enforces policy itself; use 'cilium' or "
                f"leave it unset, got {net.network_policy!r}"
            )
    elif net.network_policy == "cilium":
        raise ValueError("settings.network.network_policy: 'cilium' needs settings.network.network_dataplane: cilium")

    for field, cidr in (("service_cidr", spec.service_cidr), ("pod_cidr", spec.pod_cidr)):
        network = ipaddress.ip_network(cidr)
        if network.overlaps(AKS_MANAGED_VNET):
            raise ValueError(f"{field}: {cidr} overlaps {AKS_MANAGED_VNET}, the virtual network AKS creates for nodes")
        for reserved in AKS_RESERVED_RANGES:
            if network.overlaps(reserved):
                raise ValueError(f"{field}: {cidr} overlaps {reserved}, which AKS reserves")


def _check_pools(pools: Sequence[AksNodePool]) -> None:
    seen: set[str] = set()
    for i, pool in enumerate(pools):
        where = f"node_pools[{i}]"
        if pool.name in seen:
            raise ValueError(f"{where}.name: {pool.name!r} is used by another pool")
        seen.add(pool.name)
        if not pool.name[0].isalpha():
            raise ValueError(f"{where}.name: AKS pool names start with a lowercase letter, got {pool.name!r}")
        if pool.system and pool.min_size < 1:
            raise ValueError(f"{where}.min_size: a system pool needs at least one node, got {pool.min_size}")
        if pool.system and pool.max_pods < SYSTEM_POOL_MIN_PODS:
            raise ValueError(
                f"{where}.max_pods: a system pool must allow at least {SYSTEM_POOL_MIN_PODS} pods, got {pool.max_pods}"
            )
        for key in pool.labels:
            if key.startswith(RESERVED_LABEL_PREFIXES):
                raise ValueError(f"{where}.labels: {key!r} uses a prefix AKS reserves for itself")


def _check_tags(tags: Mapping[str, str], labels: Mapping[str, str]) -> None:
    own = {k: v for k, v in tags.items() if k not in labels}
    for field, values in (("labels", labels), ("tags", own)):
        for key, value in values.items():
            bad = sorted(set(key) & AZURE_TAG_NAME_FORBIDDEN)
            if bad:
                raise ValueError(f"{field}: Azure tag names cannot contain {' '.join(bad)}; rename {key!r}")
            if not 1 <= len(key) <= AZURE_TAG_NAME_MAX:
                raise ValueError(f"{field}: tag name {key!r} must be 1-{AZURE_TAG_NAME_MAX} characters; shorten it")
            if len(value) > AZURE_TAG_VALUE_MAX:
                raise ValueError(
                    f"{field}: the value of tag {key!r} is longer than {AZURE_TAG_VALUE_MAX} characters; shorten it"
                )
    total = len({**tags, **labels})
    if total > AZURE_TAGS_MAX:
        raise ValueError(f"labels: {total} tags (environment tags and labels together); Azure allows {AZURE_TAGS_MAX}")


def validate_spec(
    spec: AksClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None,
    tags: Mapping[str, str] | None = None,
    config: object = None,
) -> AksSettings:
    """Every AKS-specific rule the spec model cannot know, checked before a single resource exists.

    Each of these would otherwise fail only after the resource group (and sometimes the cluster) had been
    created, leaving a half-built environment behind. ``config`` is accepted for the common signature: an AKS
    spec holds no secret reference.
    """
    del config
    parsed = validate_settings(settings)
    if len(spec.cloud_name) > DNS_PREFIX_MAX:
        raise ValueError(
            f"name: {spec.cloud_name!r} is longer than {DNS_PREFIX_MAX} characters, the AKS DNS prefix limit"
        )
    if spec.tenant_id is not None and not _is_guid(spec.tenant_id):
        raise ValueError(f"tenant_id: {spec.tenant_id!r} is not a GUID")
    for i, group in enumerate(spec.admin_group_object_ids):
        if not _is_guid(group):
            raise ValueError(f"admin_group_object_ids[{i}]: {group!r} is not an Entra ID object id (GUID)")
    _check_tags(dict(tags or {}), spec.labels)
    _check_network(spec, parsed)
    _check_pools(spec.node_pools)
    return parsed


#: The common name every target's rules go by.
validate = validate_spec
