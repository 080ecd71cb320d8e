"""Typed cluster specifications, one per target, shared by the environment files and the components.

These models import no cloud SDK: an environment file is validated (and planned offline) on a machine
that has none installed, and the very same objects are the ``args`` of the cluster components, so there
is one definition of what a cluster is. Every field carries its documentation.

Cluster *settings* (node OS image, Kubernetes distribution, managed CNI/CSI) are not here: they come from
the profile's ``managed``/``cluster`` packs, so ops change them in one profile rather than in every
environment. Each target's ``*Settings`` model below says which keys of those packs it reads.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from components.delivery.plan import MIRROR_PATTERN, DeliveryMode
from packs.errors import from_validation
from packs.model import DNS_LABEL, ClusterFacts, FactValue, Frozen, PackRef, SecretRef, Target, parse_ref

#: Kubernetes minor versions each target can create today. Clouds retire versions on a schedule; a
#: version outside this range fails at plan time rather than half-way through a deployment.
SUPPORTED_KUBERNETES: dict[Target, str] = {
    Target.EKS: ">=1.31,<=1.35",
    Target.AKS: ">=1.31,<=1.35",
    Target.GKE: ">=1.31,<=1.35",
    Target.EDGE: ">=1.30,<=1.35",
    Target.EXISTING: ">=1.25",
}

Name = Annotated[str, Field(pattern=DNS_LABEL)]


@functools.cache
def _supported(allowed: str, version: str) -> bool:
    """Cached: a fleet of thousands of sites asks the same question thousands of times."""
    return Version(version) in SpecifierSet(allowed)


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR block: {exc}") from exc
    return str(net)


Cidr = Annotated[str, Field(description="An IPv4/IPv6 network in CIDR notation, e.g. 10.0.0.0/16.")]


# ------------------------------------------------------------------------- Kubernetes label syntax

#: The name part of a label key, and any non-empty label value: at most 63 characters.
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
#: An RFC 1123 DNS subdomain (its 253-character limit is checked apart).
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes label or taint key (``[prefix/]name``), or None when it is one.

    Kubernetes' own rules, the same on every cloud; a cloud's further limits (reserved prefixes, labels the
    kubelet refuses) stay with that cloud's component.
    """
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return "prefix is not a DNS subdomain"
    if not _LABEL_NAME.fullmatch(name):
        return "name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


def is_label_value(value: str) -> bool:
    """True for a valid Kubernetes label (or taint) value: empty, or a label name."""
    return value == "" or _LABEL_NAME.fullmatch(value) is not None


class Taint(Frozen):
    key: str = Field(min_length=1, description="Taint key: [prefix/]name, like a label key.")
    value: str = Field(default="", description="Taint value: empty or like a label value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(description="Taint effect.")

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        problem = label_key_problem(key)
        if problem:
            raise ValueError(f"{key!r}: {problem}")
        return key

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if not is_label_value(value):
            raise ValueError(f"{value!r} is not a valid taint value")
        return value


class NodePool(Frozen):
    """Common shape of a node pool; each cloud adds its machine type and disk settings."""

    name: Name = Field(description="Pool name, unique within the cluster.")
    min_size: int = Field(default=1, ge=0, description="Smallest node count (autoscaler lower bound).")
    max_size: int = Field(default=3, ge=1, description="Largest node count (autoscaler upper bound).")
    desired_size: int | None = Field(default=None, ge=0, description="Initial node count; default min_size.")
    system: bool = Field(default=False, description="Runs cluster-critical add-ons (CoreDNS, CNI, packs).")
    labels: dict[str, str] = Field(default_factory=dict, description="Kubernetes node labels.")
    taints: tuple[Taint, ...] = Field(default=(), description="Kubernetes node taints.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        problems = []
        for key, value in labels.items():
            problem = label_key_problem(key)
            if problem:
                problems.append(f"key {key!r}: {problem}")
            if not is_label_value(value):
                problems.append(f"value {value!r} of {key!r} is not a valid label value")
        if problems:
            raise ValueError("; ".join(problems))
        return labels

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is greater than max_size {self.max_size}")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"desired_size {self.desired_size} is outside [min_size {self.min_size}, max_size {self.max_size}]"
            )
        return self

    @property
    def initial_size(self) -> int:
        return self.desired_size if self.desired_size is not None else self.min_size


class ClusterSpec(Frozen):
    """What every cluster has, whatever the target."""

    target: Target
    name: Name = Field(description="Cluster name; also the prefix of every resource it creates.")
    kubernetes_version: str = Field(pattern=r"^1\.\d+$", description="Kubernetes minor version, e.g. '1.31'.")
    profiles: tuple[PackRef, ...] = Field(
        min_length=1,
        description="Profiles applied in order, name@version: at most one infrastructure profile (first), "
        "then add-on profiles.",
    )
    variables: dict[str, Any] = Field(
        default_factory=dict, description="Values of exposed pack variables, '<pack>.<variable>' -> value."
    )
    overrides: dict[Name, dict[str, Any]] = Field(
        default_factory=dict, description="Per-pack value overrides (rejected on paths a profile locks)."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels; cloud tags on every resource.")
    facts: dict[str, FactValue] = Field(default_factory=dict, description="Extra facts for templating.")
    protect: bool | None = Field(
        default=None,
        description="Protect the cluster, its network and keys from deletion (node pools stay replaceable); "
        "default: the environment's `production` flag.",
    )
    allow_data_loss: tuple[Name, ...] = Field(
        default=(),
        description="Production only: data-owning packs this change may drop from the cluster's profiles (their "
        "namespace and objects are then left in the cluster, unmanaged).",
    )
    renamed_from: tuple[Name, ...] = Field(
        default=(),
        description="Former names of this cluster, oldest first. Renaming then moves the stack's resources to the "
        "new name (Pulumi aliases) instead of replacing them, and the cloud keeps the first name: cloud resource "
        "names cannot change in place.",
    )
    delivery: DeliveryMode | None = Field(
        default=None,
        description="How packs reach the cluster: `pulumi` (Pulumi applies them) or `flux` (Pulumi installs Flux and "
        "hands every Helm pack to it as a source and a HelmRelease); default: the environment's `strata:delivery`.",
    )
    next_delivery: DeliveryMode | None = Field(
        default=None,
        description="The delivery this deployed cluster will switch to, deployed once before `delivery` changes: "
        "the current realisation then lets go of its releases without uninstalling them (README, Delivery); "
        "default: the environment's `strata:next_delivery`.",
    )
    mirror: str | None = Field(
        default=None,
        pattern=MIRROR_PATTERN,
        description="OCI registry holding every chart for an air-gapped site, e.g. oci://registry.site.local/charts "
        "(charts fetched as <mirror>/<chart>:<version>); default: the environment's `strata:mirror`.",
    )

    settings_model: ClassVar[type[BaseModel] | None] = None

    @field_validator("profiles")
    @classmethod
    def _refs(cls, refs: tuple[str, ...]) -> tuple[str, ...]:
        for ref in refs:
            parse_ref(ref)
        return refs

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, value: str, info: ValidationInfo) -> str:
        target = info.data.get("target")
        if target is None:
            return value
        allowed = SUPPORTED_KUBERNETES[Target(target)]
        if not _supported(allowed, value):
            raise ValueError(f"Kubernetes {value} is not supported on {Target(target).value} (supported: {allowed})")
        return value

    @field_validator("renamed_from")
    @classmethod
    def _former_names(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("name") in names:
            raise ValueError(f"{info.data['name']!r} is the current name, not a former one")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"former names listed twice: {dup}")
        return names

    @property
    def cloud_name(self) -> str:
        """The name the cloud knows the cluster by: the first it was deployed under (``renamed_from[0]``).

        Cluster, network and account names cannot change in place on any cloud, so a renamed cluster keeps
        its cloud name and only its Pulumi names, tags and exports follow the new name.
        """
        return self.renamed_from[0] if self.renamed_from else self.name

    @property
    def region_name(self) -> str | None:
        return None

    def node_pools_list(self) -> tuple[NodePool, ...]:
        return tuple(getattr(self, "node_pools", ()))

    def facts_for_plan(self) -> ClusterFacts:
        """The facts the resolver sees; node count is the sum of the pools' smallest sizes."""
        pools = self.node_pools_list()
        nodes = sum(max(p.min_size, 1 if p.system else 0) for p in pools) or None
        return ClusterFacts(
            name=self.name,
            target=self.target,
            region=self.region_name,
            kubernetes_version=self.kubernetes_version,
            labels=self.labels,
            nodes=nodes,
            extra=self.facts,
        )


def _one_system_pool(pools: tuple[NodePool, ...]) -> tuple[NodePool, ...]:
    names = [p.name for p in pools]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"node pool names used twice: {dup}")
    if pools and not any(p.system for p in pools):
        raise ValueError("at least one node pool must have system: true (cluster-critical add-ons run there)")
    return pools


# --------------------------------------------------------------------------------------------- AWS


class EksNodePool(NodePool):
    instance_types: tuple[str, ...] = Field(default=("m6i.large",), min_length=1, description="EC2 types.")
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(default="ON_DEMAND", description="On-demand or spot.")
    disk_size_gib: int = Field(default=50, ge=20, le=16384, description="Root volume size in GiB.")


class EksVpc(Frozen):
    cidr: Cidr = Field(default="10.0.0.0/16", description="VPC CIDR; split into public and private subnets.")
    availability_zones: int = Field(default=3, ge=2, le=6, description="Zones to spread subnets over.")

    @field_validator("cidr")
    @classmethod
    def _room(cls, value: str) -> str:
        value = _cidr(value)
        if ipaddress.ip_network(value).prefixlen > 20:
            raise ValueError(f"{value} is too small for an EKS VPC (use /20 or larger)")
        return value


class EksSubnets(Frozen):
    private: tuple[str, ...] = Field(min_length=2, description="Existing private subnet ids (nodes).")
    public: tuple[str, ...] = Field(default=(), description="Existing public subnet ids (load balancers).")

    @field_validator("private", "public")
    @classmethod
    def _ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        for i in ids:
            if not i.startswith("subnet-"):
                raise ValueError(f"{i!r} is not a subnet id (subnet-...)")
        return ids


class EksNodeOs(Frozen):
    ami_type: str = Field(default="AL2023_x86_64_STANDARD", description="Managed node group AMI type.")


class EksSettings(Frozen):
    """Keys the EKS component reads from the profile's ``cluster`` packs."""

    node_os: EksNodeOs = Field(default_factory=EksNodeOs, alias="node-os", description="Node OS image.")
    kubernetes: dict[str, Any] = Field(default_factory=dict, description="Reserved; no keys are read yet.")
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EksClusterSpec(ClusterSpec):
    """An Amazon EKS cluster with its VPC, IAM, KMS, OIDC provider and managed node groups."""

    target: Literal[Target.EKS] = Field(description="eks")
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region, e.g. eu-west-1.")
    vpc: EksVpc | None = Field(default=None, description="New VPC to create (default when subnets are absent).")
    subnets: EksSubnets | None = Field(default=None, description="Existing subnets instead of a new VPC.")
    endpoint_private_access: bool = Field(default=True, description="API reachable from inside the VPC.")
    endpoint_public_access: bool = Field(default=True, description="API reachable from the internet.")
    public_access_cidrs: tuple[Cidr, ...] = Field(
        default=("0.0.0.0/0",), description="Who may reach the public endpoint."
    )
    secrets_encryption: bool = Field(default=True, description="Envelope-encrypt Secrets with a KMS key.")
    kms_key_arn: str | None = Field(default=None, description="Existing KMS key; default: one is created.")
    log_types: tuple[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"], ...] = Field(
        default=("api", "audit", "authenticator"), description="Control-plane log types sent to CloudWatch."
    )
    admins: tuple[str, ...] = Field(
        default=(), description="IAM principal ARNs granted cluster admin through EKS access entries."
    )
    node_pools: tuple[EksNodePool, ...] = Field(min_length=1, description="Managed node groups.")

    settings_model: ClassVar[type[BaseModel] | None] = EksSettings

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_cidr(v) for v in values)

    @field_validator("node_pools")
    @classmethod
    def _pools(cls, pools: tuple[EksNodePool, ...]) -> tuple[EksNodePool, ...]:
        _one_system_pool(pools)
        return pools

    @model_validator(mode="after")
    def _network(self) -> EksClusterSpec:
        if self.vpc is not None and self.subnets is not None:
            raise ValueError("give either vpc (create one) or subnets (use existing), not both")
        if not (self.endpoint_private_access or self.endpoint_public_access):
            raise ValueError("at least one of endpoint_private_access and endpoint_public_access must be true")
        if self.kms_key_arn is not None and not self.secrets_encryption:
            raise ValueError("kms_key_arn is set but secrets_encryption is false")
        return self

    @property
    def region_name(self) -> str | None:
        return self.region


# ------------------------------------------------------------------------------------------- Azure


class AksNodePool(NodePool):
    vm_size: str = Field(default="Standard_D4s_v5", description="Azure VM size.")
    zones: tuple[Literal["1", "2", "3"], ...] = Field(default=("1", "2", "3"), description="Availability zones.")
    os_disk_size_gib: int = Field(default=128, ge=30, le=2048, description="OS disk size in GiB.")
    max_pods: int = Field(default=110, ge=10, le=250, description="Maximum pods per node.")

    @field_validator("name")
    @classmethod
    def _aks_name(cls, value: str) -> str:
        # AKS agent pool names: lowercase alphanumeric, at most 12 characters (Linux pools).
        if not value.isalnum() or len(value) > 12:
            raise ValueError(f"AKS node pool name {value!r} must be 1-12 lowercase letters or digits")
        return value


class AksNodeOs(Frozen):
    os_sku: Literal["Ubuntu", "AzureLinux"] = Field(default="AzureLinux", description="Node OS SKU.")


class AksNetwork(Frozen):
    network_plugin: Literal["azure"] = Field(default="azure", description="Azure CNI.")
    network_plugin_mode: Literal["overlay"] | None = Field(default="overlay", description="Overlay pod IPs.")
    network_dataplane: Literal["azure", "cilium"] = Field(default="azure", description="Dataplane.")
    network_policy: Literal["azure", "cilium", "calico"] | None = Field(default="azure", description="Policy.")


class AksStorage(Frozen):
    disk_csi_driver: bool = Field(default=True, description="Azure Disk CSI driver.")
    file_csi_driver: bool = Field(default=True, description="Azure Files CSI driver.")
    snapshot_controller: bool = Field(default=True, description="CSI snapshot controller.")


class AksSettings(Frozen):
    """Keys the AKS component reads from the profile's ``cluster`` packs."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    node_os: AksNodeOs = Field(default_factory=AksNodeOs, alias="node-os", description="Node OS.")
    network: AksNetwork = Field(default_factory=AksNetwork, description="Managed CNI settings.")
    storage: AksStorage = Field(default_factory=AksStorage, description="Managed CSI drivers.")
    kubernetes: dict[str, Any] = Field(default_factory=dict, description="Reserved; no keys are read yet.")


class AksClusterSpec(ClusterSpec):
    """An AKS managed cluster with managed identity, OIDC issuer, workload identity and Azure RBAC."""

    target: Literal[Target.AKS] = Field(description="aks")
    location: str = Field(pattern=r"^[a-z0-9]+$", description="Azure region, e.g. westeurope.")
    resource_group: str | None = Field(default=None, description="Existing resource group; default: created.")
    pod_cidr: Cidr = Field(default="192.168.0.0/16", description="Overlay pod CIDR.")
    service_cidr: Cidr = Field(default="10.0.0.0/16", description="Service CIDR.")
    dns_service_ip: str = Field(default="10.0.0.10", description="CoreDNS service IP inside service_cidr.")
    private_cluster: bool = Field(default=False, description="API server reachable only privately.")
    authorized_ip_ranges: tuple[Cidr, ...] = Field(
        default=(),
        description="Networks allowed to reach the public API server (not with private_cluster, which has no "
        "public endpoint); empty admits any address.",
    )
    sku_tier: Literal["Free", "Standard", "Premium"] = Field(default="Standard", description="Control plane SLA.")
    tenant_id: str | None = Field(default=None, description="Entra ID tenant for Azure RBAC; default current.")
    admin_group_object_ids: tuple[str, ...] = Field(default=(), description="Entra groups with cluster admin.")
    node_pools: tuple[AksNodePool, ...] = Field(min_length=1, description="Agent pools; one has system: true.")

    settings_model: ClassVar[type[BaseModel] | None] = AksSettings

    @field_validator("pod_cidr", "service_cidr")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        return _cidr(value)

    @field_validator("authorized_ip_ranges")
    @classmethod
    def _ranges(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_cidr(v) for v in values)

    @field_validator("node_pools")
    @classmethod
    def _pools(cls, pools: tuple[AksNodePool, ...]) -> tuple[AksNodePool, ...]:
        _one_system_pool(pools)
        return pools

    @model_validator(mode="after")
    def _dns_ip(self) -> AksClusterSpec:
        if ipaddress.ip_address(self.dns_service_ip) not in ipaddress.ip_network(self.service_cidr):
            raise ValueError(f"dns_service_ip {self.dns_service_ip} is not inside service_cidr {self.service_cidr}")
        if ipaddress.ip_network(self.pod_cidr).overlaps(ipaddress.ip_network(self.service_cidr)):
            raise ValueError(f"pod_cidr {self.pod_cidr} overlaps service_cidr {self.service_cidr}")
        if self.private_cluster and self.authorized_ip_ranges:
            raise ValueError("authorized_ip_ranges limits a public API server; a private cluster has none: remove one")
        return self

    @property
    def region_name(self) -> str | None:
        return self.location


# --------------------------------------------------------------------------------------------- GCP


class GkeNodePool(NodePool):
    machine_type: str = Field(default="e2-standard-4", description="GCE machine type.")
    spot: bool = Field(default=False, description="Spot VMs.")
    disk_size_gib: int = Field(default=100, ge=10, le=65536, description="Boot disk size in GiB.")
    disk_type: Literal["pd-standard", "pd-balanced", "pd-ssd"] = Field(default="pd-balanced", description="Disk.")


class GkeNodeOs(Frozen):
    image_type: Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"] = Field(default="COS_CONTAINERD", description="Image.")


class GkeNetwork(Frozen):
    datapath_provider: Literal["ADVANCED_DATAPATH", "LEGACY_DATAPATH"] = Field(
        default="ADVANCED_DATAPATH", description="ADVANCED_DATAPATH is Dataplane V2 (eBPF, network policy)."
    )


class GkeStorage(Frozen):
    gce_persistent_disk_csi_driver: bool = Field(default=True, description="Compute Engine PD CSI driver.")
    filestore_csi_driver: bool = Field(default=False, description="Filestore CSI driver.")


class GkeSettings(Frozen):
    """Keys the GKE component reads from the profile's ``cluster`` packs."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    node_os: GkeNodeOs = Field(default_factory=GkeNodeOs, alias="node-os", description="Node image.")
    network: GkeNetwork = Field(default_factory=GkeNetwork, description="Dataplane.")
    storage: GkeStorage = Field(default_factory=GkeStorage, description="Managed CSI drivers.")
    kubernetes: dict[str, Any] = Field(default_factory=dict, description="Reserved; no keys are read yet.")


class GkeClusterSpec(ClusterSpec):
    """A VPC-native GKE Standard cluster with separately managed node pools and workload identity."""

    target: Literal[Target.GKE] = Field(description="gke")
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="GCP project id.")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d$", description="GCP region, e.g. europe-west1.")
    subnet_cidr: Cidr = Field(default="10.10.0.0/20", description="Node subnet CIDR.")
    pods_cidr: Cidr = Field(default="10.20.0.0/14", description="Secondary range for pods.")
    services_cidr: Cidr = Field(default="10.24.0.0/20", description="Secondary range for services.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = Field(
        default="REGULAR", description="GKE release channel."
    )
    private_nodes: bool = Field(default=True, description="Nodes have internal IPs only.")
    private_endpoint: bool = Field(default=False, description="Control plane reachable only privately.")
    master_ipv4_cidr: Cidr = Field(default="172.16.0.0/28", description="Control plane /28 for private clusters.")
    master_authorized_networks: tuple[Cidr, ...] = Field(default=(), description="CIDRs allowed to reach the API.")
    rbac_security_group: str | None = Field(
        default=None,
        pattern=r"^gke-security-groups@[^@\s]+\.[^@\s]+$",
        description="Google Groups for RBAC: gke-security-groups@<your domain>, the Google group whose member groups "
        "RoleBindings may name (team files bind Google groups; without it GKE ignores them).",
    )
    node_pools: tuple[GkeNodePool, ...] = Field(min_length=1, description="Node pools; one has system: true.")

    settings_model: ClassVar[type[BaseModel] | None] = GkeSettings

    @field_validator("subnet_cidr", "pods_cidr", "services_cidr", "master_ipv4_cidr")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        return _cidr(value)

    @field_validator("node_pools")
    @classmethod
    def _pools(cls, pools: tuple[GkeNodePool, ...]) -> tuple[GkeNodePool, ...]:
        _one_system_pool(pools)
        return pools

    @model_validator(mode="after")
    def _ranges(self) -> GkeClusterSpec:
        nets = {
            "subnet_cidr": self.subnet_cidr,
            "pods_cidr": self.pods_cidr,
            "services_cidr": self.services_cidr,
            "master_ipv4_cidr": self.master_ipv4_cidr,
        }
        items = list(nets.items())
        for i, (a, va) in enumerate(items):
            for b, vb in items[i + 1 :]:
                if ipaddress.ip_network(va).overlaps(ipaddress.ip_network(vb)):
                    raise ValueError(f"{a} {va} overlaps {b} {vb}")
        if ipaddress.ip_network(self.master_ipv4_cidr).prefixlen != 28:
            raise ValueError(f"master_ipv4_cidr {self.master_ipv4_cidr} must be a /28")
        return self

    @property
    def region_name(self) -> str | None:
        return self.region

    def facts_for_plan(self) -> ClusterFacts:
        """GKE pool sizes are per zone and a regional pool runs in three zones; ``project`` is a fact, so packs
        can point at the cluster's project (``{{ cluster.project }}``) by default."""
        base = super().facts_for_plan()
        update: dict[str, Any] = {"extra": {**base.extra, "project": self.project}}
        if base.nodes is not None:
            update["nodes"] = base.nodes * 3
        return base.model_copy(update=update)


# -------------------------------------------------------------------------------------------- Edge


class EdgeHost(Frozen):
    name: Name = Field(description="Node name; renaming a host updates k3s in place.")
    address: str = Field(min_length=1, description="IP or DNS name reachable over SSH.")
    id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$",
        description="Stable identity of the machine (asset tag, serial); default: its address. A host's resources "
        "are keyed by it, so a new name is an update, while a new id (or a new address without an id) is "
        "another machine: k3s is installed there and uninstalled from the old one. Set it before re-addressing.",
    )
    user: str = Field(default="root", description="SSH user (needs sudo).")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    role: Literal["server", "agent"] = Field(default="server", description="k3s server or agent.")
    host_key: str | None = Field(
        default=None,
        description="SSH host public key (authorized_keys form, e.g. 'ssh-ed25519 AAAA...'); pins the host so a "
        "spoofed address cannot receive the cluster token. Unset accepts any host key.",
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a host address")
        return value


class EdgeAirgap(Frozen):
    """Install without internet: k3s binary, install script and images already on each host."""

    binary: str = Field(default="/opt/strata/k3s", description="Path of the k3s binary on the host.")
    install_script: str = Field(default="/opt/strata/install.sh", description="Path of install.sh on the host.")
    images: str = Field(
        default="/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst",
        description="Airgap image tarball on the host (k3s imports it at start).",
    )


class EdgeK3s(Frozen):
    version: str = Field(default="v1.31.4+k3s1", pattern=r"^v\d+\.\d+\.\d+\+k3s\d+$", description="Exact k3s release.")
    disable: tuple[str, ...] = Field(default=("traefik",), description="Bundled components to disable.")
    cluster_cidr: str = Field(default="10.42.0.0/16", description="Pod CIDR.")
    service_cidr: str = Field(default="10.43.0.0/16", description="Service CIDR.")
    flannel_backend: Literal["vxlan", "host-gw", "wireguard-native", "none"] = Field(
        default="vxlan", description="'none' when the profile brings its own CNI (cilium)."
    )


class EdgeStorage(Frozen):
    local_path: bool = Field(
        default=True, description="Keep k3s's bundled local-path provisioner (default StorageClass 'local-path')."
    )


class EdgeSettings(Frozen):
    """Keys the edge component reads from the profile's ``cluster`` packs."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    node_os: dict[str, Any] = Field(default_factory=dict, alias="node-os", description="Informational.")
    kubernetes: EdgeK3s = Field(default_factory=EdgeK3s, description="k3s distribution settings.")
    network: dict[str, Any] = Field(default_factory=dict, description="Reserved; no keys are read yet.")
    storage: EdgeStorage = Field(default_factory=EdgeStorage, description="Bundled storage.")


class EdgeClusterSpec(ClusterSpec):
    """k3s on one or a few bare-metal hosts reached over SSH."""

    target: Literal[Target.EDGE] = Field(description="edge")
    region: str | None = Field(default=None, description="Region the site belongs to (for fleet grouping).")
    site: str | None = Field(default=None, description="Site identifier.")
    hosts: tuple[EdgeHost, ...] = Field(min_length=1, description="Hosts; the first server bootstraps.")
    ssh_key: SecretRef = Field(description="SSH private key used to reach the hosts.")
    airgap: EdgeAirgap | None = Field(default=None, description="Air-gapped install from artifacts on hosts.")
    cpu_millicores: int | None = Field(default=None, ge=1, description="Total CPU of the site, if known.")
    memory_mib: int | None = Field(default=None, ge=1, description="Total memory of the site, if known.")

    settings_model: ClassVar[type[BaseModel] | None] = EdgeSettings

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[EdgeHost, ...]) -> tuple[EdgeHost, ...]:
        if hosts and hosts[0].role != "server":
            raise ValueError("hosts[0] must be a server: it bootstraps the cluster")
        names = [h.name for h in hosts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"host names used twice: {dup}")
        return hosts

    @property
    def region_name(self) -> str | None:
        return self.region

    def facts_for_plan(self) -> ClusterFacts:
        base = super().facts_for_plan()
        extra = dict(self.facts)
        if self.site is not None:
            extra.setdefault("site", self.site)
        return base.model_copy(
            update={
                "nodes": len(self.hosts),
                "cpu_millicores": self.cpu_millicores,
                "memory_mib": self.memory_mib,
                "extra": extra,
            }
        )


# ---------------------------------------------------------------------------------------- Existing


class ExistingClusterSpec(ClusterSpec):
    """Adopt a cluster strata did not create: from a kubeconfig, or render manifests to a directory."""

    target: Literal[Target.EXISTING] = Field(description="existing")
    region: str | None = Field(default=None, description="Informational region.")
    kubeconfig: SecretRef | None = Field(
        default=None, description="Kubeconfig of the cluster; absent means render manifests to render_dir."
    )
    context: str | None = Field(default=None, description="Kubeconfig context; default the current one.")
    render_dir: str = Field(
        default="out/{cluster}", description="Where manifests are written when no kubeconfig is given."
    )
    nodes: int | None = Field(default=None, ge=1, description="Node count, if known (for constraints).")
    cpu_millicores: int | None = Field(default=None, ge=1, description="Total CPU, if known.")
    memory_mib: int | None = Field(default=None, ge=1, description="Total memory, if known.")
    capabilities: tuple[str, ...] = Field(
        default=("cni", "storage-class"),
        description="What the adopted cluster already brings, so packs requiring it resolve without a pack.",
    )

    @property
    def region_name(self) -> str | None:
        return self.region

    def facts_for_plan(self) -> ClusterFacts:
        return (
            super()
            .facts_for_plan()
            .model_copy(
                update={
                    "nodes": self.nodes,
                    "cpu_millicores": self.cpu_millicores,
                    "memory_mib": self.memory_mib,
                    "capabilities": self.capabilities,
                }
            )
        )


AnyClusterSpec = Annotated[
    EksClusterSpec | AksClusterSpec | GkeClusterSpec | EdgeClusterSpec | ExistingClusterSpec,
    Field(discriminator="target"),
]


S = TypeVar("S", bound=BaseModel)


_SETTINGS: dict[tuple[type[BaseModel], str], BaseModel] = {}


def read_settings(model: type[S], settings: Mapping[str, Mapping[str, Any]] | None) -> S:
    """The profile's cluster settings as ``model``; a ValueError names every bad ``settings.<path>``.

    Remembered by content: every site of a fleet shares its profile's settings, and the plan and the program
    check all of them before anything is built (the models are frozen, so sharing one is safe).
    """
    key = (model, repr(settings))
    known = _SETTINGS.get(key)
    if isinstance(known, model):  # always, when present: the key holds the model
        return known
    try:
        parsed = model.model_validate(dict(settings or {}))
    except ValidationError as exc:
        # The one translation of pydantic's errors (packs/errors.py): a wrong choice names the value given,
        # the allowed ones and the closest, an unknown key its closest known one.
        problems = "; ".join(f"{e.path}: {e.message}" for e in from_validation(exc, "", "settings", model=model))
        raise ValueError(problems) from None
    if len(_SETTINGS) < 1024:
        _SETTINGS[key] = parsed
    return parsed


def parse_settings(spec: ClusterSpec, settings: Mapping[str, Mapping[str, Any]]) -> BaseModel | None:
    """Validate the profile's cluster settings for this target (raises pydantic ValidationError)."""
    model = spec.settings_model
    return None if model is None else model.model_validate(dict(settings))


__all__ = [
    "SUPPORTED_KUBERNETES",
    "AksClusterSpec",
    "AksNodePool",
    "AksSettings",
    "AnyClusterSpec",
    "ClusterSpec",
    "EdgeClusterSpec",
    "EdgeHost",
    "EdgeSettings",
    "EksClusterSpec",
    "EksNodePool",
    "EksSettings",
    "ExistingClusterSpec",
    "GkeClusterSpec",
    "GkeNodePool",
    "GkeSettings",
    "NodePool",
    "SecretRef",
    "Taint",
    "is_label_value",
    "label_key_problem",
    "parse_settings",
    "read_settings",
]
