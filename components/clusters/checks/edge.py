"""Edge (k3s over SSH) rules the spec model cannot check alone: settings, hosts, k3s ranges, air-gap, SSH key.

Pure (no Pulumi, no command provider), so the offline plan runs exactly the rules the component runs before a
single command reaches a host.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from components.clusters.secrets import ConfigLookup, read_secret_value
from components.clusters.spec import EdgeAirgap, EdgeClusterSpec, EdgeHost, EdgeK3s, EdgeSettings, read_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Packaged components ``--disable`` accepts.
DISABLEABLE = ("coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes")

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
_POSIX_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_K3S_VERSION_IN_PATH = re.compile(r"v\d+\.\d+\.\d+[+-]k3s\d+")


def validate_settings(settings: Mapping[str, Mapping[str, Any]] | None) -> EdgeSettings:
    """The profile's cluster settings as :class:`EdgeSettings`; errors name ``settings.<path>``."""
    return read_settings(EdgeSettings, settings)


@functools.cache
def _networks(value: str, field: str) -> tuple[Network, ...]:
    """A k3s CIDR setting: one network, or an IPv4,IPv6 pair for dual-stack (cached: a fleet shares them)."""
    nets = []
    for part in value.split(","):
        try:
            nets.append(ipaddress.ip_network(part.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"{field}: {part.strip()!r} is not a valid CIDR block: {exc}") from None
    if len({n.version for n in nets}) != len(nets):
        raise ValueError(f"{field}: {value!r} names two networks of the same IP family")
    return tuple(nets)


@functools.lru_cache(maxsize=256)
def host_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address as an IP, or None for a DNS name; remembered, as each rule of a site asks again."""
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def host_key(host: EdgeHost) -> str:
    """What a host's resources are named by: its ``id``, else its address.

    Never its name: the install command's delete is the k3s uninstall, so a resource named after the host
    name would uninstall k3s from the very machine that was only renamed. Addresses are case-folded (DNS
    names are case-insensitive) and IPv6 colons become ``_`` (``::`` separates the parts of a URN; host
    names never contain ``_``, so no address maps onto another).
    """
    if host.id is not None:
        return host.id
    ip = host_ip(host.address)
    return ip.compressed.replace(":", "_") if ip is not None else host.address.lower()


def _check_hosts(hosts: Sequence[EdgeHost]) -> None:
    seen: dict[str, int] = {}
    keys: dict[str, int] = {}
    for i, host in enumerate(hosts):
        if host_ip(host.address) is None and not _HOSTNAME.match(host.address):
            raise ValueError(f"hosts[{i}].address: {host.address!r} is neither an IP address nor a DNS name")
        if not _POSIX_USER.match(host.user):
            raise ValueError(f"hosts[{i}].user: {host.user!r} is not a valid user name")
        key = host.address.lower()
        if key in seen:
            raise ValueError(f"hosts[{i}].address: {host.address} is already used by hosts[{seen[key]}]")
        seen[key] = i
        identity = host_key(host)
        if identity in keys:
            raise ValueError(
                f"hosts[{i}].id: {identity!r} already identifies hosts[{keys[identity]}] (by its id or address)"
            )
        keys[identity] = i
    servers = sum(1 for h in hosts if h.role == "server")
    if servers > 1 and servers % 2 == 0:
        raise ValueError(
            f"hosts: {servers} servers cannot keep an etcd quorum when one fails; use an odd number (1, 3, 5)"
        )


def _check_k3s(spec: EdgeClusterSpec, parsed: EdgeSettings) -> None:
    k3s = parsed.kubernetes
    where = "settings.kubernetes"
    major, minor = k3s.version[1:].split(".")[:2]
    if f"{major}.{minor}" != spec.kubernetes_version:
        raise ValueError(
            f"{where}.version: {k3s.version} is Kubernetes {major}.{minor} "
            f"but kubernetes_version is {spec.kubernetes_version}"
        )
    pods, services = _k3s_networks(k3s, parsed.storage.local_path)
    for i, host in enumerate(spec.hosts):
        ip = host_ip(host.address)
        if ip is None:
            continue
        for field, nets in (("cluster_cidr", pods), ("service_cidr", services)):
            for net in nets:
                if ip.version == net.version and ip in net:
                    raise ValueError(f"hosts[{i}].address: {ip} is inside {where}.{field} {net}")


@functools.cache
def _k3s_networks(k3s: EdgeK3s, local_path: bool) -> tuple[tuple[Network, ...], tuple[Network, ...]]:
    """The profile's k3s settings checked once per distinct value (every site of a fleet shares them)."""
    where = "settings.kubernetes"
    for i, item in enumerate(k3s.disable):
        if item not in DISABLEABLE:
            raise ValueError(f"{where}.disable[{i}]: {item!r} is not a k3s packaged component {list(DISABLEABLE)}")
        if k3s.disable.index(item) != i:
            raise ValueError(f"{where}.disable[{i}]: {item!r} is listed twice")
        if item == "local-storage" and local_path:
            raise ValueError(
                f"{where}.disable[{i}]: local-storage is disabled but settings.storage.local_path is true; "
                "set storage.local_path: false instead"
            )
    pods = _networks(k3s.cluster_cidr, f"{where}.cluster_cidr")
    services = _networks(k3s.service_cidr, f"{where}.service_cidr")
    for p in pods:
        for s in services:
            if p.version == s.version and p.overlaps(s):
                raise ValueError(f"{where}.cluster_cidr {p} overlaps {where}.service_cidr {s}")
    return pods, services


def _check_airgap(airgap: EdgeAirgap, version: str) -> None:
    for field in ("binary", "install_script", "images"):
        path: str = getattr(airgap, field)
        if not PurePosixPath(path).is_absolute():
            raise ValueError(f"airgap.{field}: {path!r} must be an absolute path on the host")
        for found in _K3S_VERSION_IN_PATH.findall(path):
            named = found.replace("-k3s", "+k3s")
            if named != version:
                raise ValueError(
                    f"airgap.{field}: {path} names k3s {named} but settings.kubernetes.version is {version}"
                )


def validate(
    spec: EdgeClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None,
    tags: Mapping[str, str] | None = None,
    config: ConfigLookup | None = None,
) -> EdgeSettings:
    """Every edge rule the spec model cannot know, checked before a single command runs on a host.

    A bad setting found here costs nothing; found by k3s, it leaves a half-installed site that has to be
    cleaned up over SSH. ``flannel_backend: none`` is accepted as it is: the profile is trusted to bring a
    CNI pack (the resolver, not this component, knows what the profile holds). ``tags`` have nothing to land
    on (a k3s host is no cloud resource); ``config`` is where ``{config: ...}`` secret references are read.
    """
    del tags
    parsed = validate_settings(settings)
    _check_hosts(spec.hosts)
    _check_k3s(spec, parsed)
    if spec.airgap is not None:
        _check_airgap(spec.airgap, parsed.kubernetes.version)
    # The key must be readable now: a missing one found later would stop the run after other sites were built.
    read_secret_value(spec.ssh_key, "ssh_key", config)
    return parsed
