"""A GKE Standard cluster behind the strata cluster contract.

What it creates, and why each choice was made:

- its own VPC network (custom subnet mode) and one regional subnetwork for the nodes, with two secondary
  ranges for pods and services: the cluster is VPC-native (alias IPs), which private clusters, Dataplane V2
  and container-native load balancing all require. Private Google Access is on so nodes without external
  addresses still reach Google APIs (Artifact Registry, logging, monitoring);
- a Cloud Router and Cloud NAT when nodes are private, because private nodes otherwise have no egress at all
  and cannot pull an image from any registry outside Google;
- a dedicated node service account holding only the roles a node needs (write logs and metrics, read
  images), instead of the Compute Engine default account, which usually holds project Editor;
- the cluster without its default node pool, so every pool is a ``NodePool`` resource that can be added,
  resized or replaced on its own; workload identity (the metadata server answers pods with their Kubernetes
  service account's Google identity, never the node's) and shielded nodes on every pool;
- a kubeconfig that runs ``gke-gcloud-auth-plugin``: no token is stored and the text never changes between
  runs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_gcp import compute, container, projects, serviceaccount

from components.clusters.contract import (
    POOL_LABEL,
    ClusterComponent,
    ClusterContract,
    WorkloadIdentity,
    exec_kubeconfig,
    make_provider,
)
from components.clusters.spec import GkeClusterSpec, GkeNodePool, GkeSettings, read_settings
from components.lifecycle import DIGEST_LENGTH, fixed_name, pool_name
from packs.model import Target

AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_INSTALL_HINT = (
    "gke-gcloud-auth-plugin is required to reach GKE clusters: 'gcloud components install gke-gcloud-auth-plugin' "
    "or https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)
#: The StorageClass the Compute Engine persistent disk CSI driver installs on every GKE cluster.
STORAGE_CLASS = "standard-rwo"
#: Roles a node needs and nothing more: ship logs and metrics, report resource metadata, pull images.
NODE_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
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

TAINT_EFFECTS: dict[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


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


# ----------------------------------------------------------------------------------------- names


def node_service_account_id(cluster: str) -> str:
    """The node service account's id: 6-30 characters, a letter first, stable for a given cluster name.

    ``<cluster>-nodes`` when it fits; otherwise a prefix of the name and a short digest of the whole name,
    so two long cluster names sharing a prefix still get different accounts.
    """
    candidate = f"{cluster}-nodes"
    if len(candidate) <= 30:
        return candidate
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:8]
    return f"{cluster[:21].rstrip('-')}-{digest}"


def gke_pool_name(pool: GkeNodePool, image_type: str) -> str:
    """The pool's GKE name: a new one whenever a field GKE cannot change in place changes.

    Machine type, disk, image and spot-ness change only by re-creating the pool; with a new name the new
    pool is created next to the old one, which drains once its replacement is up (see components/lifecycle.py).
    """
    forcing = {
        "machine_type": pool.machine_type,
        "disk_size_gib": pool.disk_size_gib,
        "disk_type": pool.disk_type,
        "image_type": image_type,
        "spot": pool.spot,
    }
    return pool_name(pool.name, forcing, GKE_NAME_MAX)


def oidc_issuer_url(project: str, region: str, cluster: str) -> str:
    """The issuer of the cluster's service account tokens (what workload identity federation trusts)."""
    return f"https://container.googleapis.com/v1/projects/{project}/locations/{region}/clusters/{cluster}"


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
) -> tuple[GkeSettings, dict[str, str]]:
    """Every GKE-specific rule the spec model cannot know, checked before a single resource exists.

    Returns the parsed settings and the GCP labels. Each rule here would otherwise fail only after the
    network (and often the cluster) had been created, leaving a half-built environment behind.
    """
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


# ----------------------------------------------------------------------------------------- the component


def _taints(pool: GkeNodePool) -> list[container.NodePoolNodeConfigTaintArgs]:
    return [
        container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=TAINT_EFFECTS[t.effect])
        for t in pool.taints
    ]


def _kubeconfig(name: str, endpoint: str, ca_data: str) -> str:
    return exec_kubeconfig(name, f"https://{endpoint}", ca_data, AUTH_PLUGIN, (), install_hint=AUTH_PLUGIN_INSTALL_HINT)


class GkeCluster(ClusterComponent):
    """A VPC-native GKE Standard cluster with workload identity and separately managed node pools."""

    #: The environment program runs this for every cluster before registering anything.
    validate = staticmethod(validate)

    def __init__(
        self,
        name: str,
        spec: GkeClusterSpec,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        protect: bool = False,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        parsed, labels = validate(spec, settings, tags)
        super().__init__("strata:clusters:GkeCluster", name, None, opts)

        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect))
        project, region, cloud_name = spec.project, spec.region, spec.cloud_name

        # ---------------------------------------------------------------- network
        network = compute.Network(
            f"{name}-vpc",
            name=f"{cloud_name}-vpc",
            project=project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=fixed_name(guarded),
        )
        subnet = compute.Subnetwork(
            f"{name}-subnet",
            name=f"{cloud_name}-nodes",
            project=project,
            region=region,
            network=network.id,
            ip_cidr_range=spec.subnet_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=spec.pods_cidr),
                compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=spec.services_cidr),
            ],
            opts=fixed_name(guarded),
        )
        egress: list[pulumi.Resource] = []
        if spec.private_nodes:
            router = compute.Router(
                f"{name}-router",
                name=f"{cloud_name}-router",
                project=project,
                region=region,
                network=network.id,
                opts=fixed_name(child),
            )
            nat = compute.RouterNat(
                f"{name}-nat",
                name=f"{cloud_name}-nat",
                project=project,
                region=region,
                router=router.name,
                nat_ip_allocate_option="AUTO_ONLY",
                # The network is the cluster's own, so NAT for all of it is NAT for the nodes and pods only.
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                log_config=compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
                opts=fixed_name(child),
            )
            egress = [nat]

        # ---------------------------------------------------------------- node identity
        node_sa = serviceaccount.Account(
            f"{name}-node-sa",
            account_id=node_service_account_id(cloud_name),
            display_name=f"GKE nodes of {cloud_name}",
            description="Least-privilege identity of the cluster's nodes (logs, metrics, image pulls).",
            project=project,
            opts=fixed_name(child),
        )
        grants = [
            projects.IAMMember(
                f"{name}-node-sa-{role.removeprefix('roles/').replace('.', '-').lower()}",
                project=project,
                role=role,
                member=node_sa.member,
                opts=child,
            )
            for role in NODE_ROLES
        ]

        # ---------------------------------------------------------------- cluster
        net = parsed.network
        storage = parsed.storage
        legacy = net.datapath_provider == "LEGACY_DATAPATH"
        node_metadata = {"disable-legacy-endpoints": "true"}
        shielded = {"enable_secure_boot": True, "enable_integrity_monitoring": True}

        cluster = container.Cluster(
            f"{name}-gke",
            name=cloud_name,
            project=project,
            location=region,
            network=network.id,
            subnetwork=subnet.id,
            networking_mode="VPC_NATIVE",
            # GKE refuses a cluster without a pool; the default one is deleted right after creation so that
            # every pool is a NodePool resource of its own.
            remove_default_node_pool=True,
            initial_node_count=1,
            # The short-lived default pool runs as the node account too: organisations often disable the
            # Compute Engine default account, and creation would fail with it.
            node_config=container.ClusterNodeConfigArgs(
                service_account=node_sa.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                image_type=parsed.node_os.image_type,
                workload_metadata_config=container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                shielded_instance_config=container.ClusterNodeConfigShieldedInstanceConfigArgs(**shielded),
                metadata=node_metadata,
                resource_labels=labels,
            ),
            deletion_protection=protect,
            min_master_version=spec.kubernetes_version,
            release_channel=container.ClusterReleaseChannelArgs(channel=spec.release_channel),
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE,
                services_secondary_range_name=SERVICES_RANGE,
            ),
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{project}.svc.id.goog"
            ),
            private_cluster_config=(
                container.ClusterPrivateClusterConfigArgs(
                    enable_private_nodes=True,
                    enable_private_endpoint=spec.private_endpoint,
                    master_ipv4_cidr_block=spec.master_ipv4_cidr,
                )
                if spec.private_nodes
                else None
            ),
            # An empty list would switch the firewall on with nothing allowed; no entries means no restriction
            # beyond authentication (see docs/targets/gke.md).
            master_authorized_networks_config=(
                container.ClusterMasterAuthorizedNetworksConfigArgs(
                    cidr_blocks=[
                        container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                            cidr_block=cidr, display_name=f"authorized-{i}"
                        )
                        for i, cidr in enumerate(spec.master_authorized_networks)
                    ]
                )
                if spec.master_authorized_networks
                else None
            ),
            datapath_provider=net.datapath_provider,
            # Dataplane V2 enforces NetworkPolicy itself and refuses Calico; the legacy dataplane enforces it
            # only with Calico, and packs (team spaces' default-deny) rely on enforcement either way.
            network_policy=container.ClusterNetworkPolicyArgs(enabled=True, provider="CALICO") if legacy else None,
            addons_config=container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=storage.gce_persistent_disk_csi_driver
                ),
                gcp_filestore_csi_driver_config=container.ClusterAddonsConfigGcpFilestoreCsiDriverConfigArgs(
                    enabled=storage.filestore_csi_driver
                ),
                network_policy_config=(
                    container.ClusterAddonsConfigNetworkPolicyConfigArgs(disabled=False) if legacy else None
                ),
            ),
            resource_labels=labels,
            logging_config=container.ClusterLoggingConfigArgs(enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]),
            monitoring_config=container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            opts=pulumi.ResourceOptions.merge(
                fixed_name(guarded),
                pulumi.ResourceOptions(
                    depends_on=[*grants, *egress],
                    # node_config describes only the default pool, which is gone once the cluster exists.
                    ignore_changes=["nodeConfig"],
                ),
            ),
        )

        # ---------------------------------------------------------------- node pools
        pools: list[container.NodePool] = []
        for pool in spec.node_pools:
            pools.append(
                container.NodePool(
                    f"{name}-nodes-{pool.name}",
                    name=gke_pool_name(pool, parsed.node_os.image_type),
                    project=project,
                    location=region,
                    cluster=cluster.name,
                    # Per zone: a regional pool is replicated into every zone it runs in.
                    initial_node_count=pool.initial_size,
                    autoscaling=container.NodePoolAutoscalingArgs(
                        min_node_count=pool.min_size,
                        max_node_count=pool.max_size,
                        # Spot capacity comes from wherever it is free; on-demand pools stay even across zones.
                        location_policy="ANY" if pool.spot else "BALANCED",
                    ),
                    management=container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
                    node_config=container.NodePoolNodeConfigArgs(
                        machine_type=pool.machine_type,
                        spot=pool.spot,
                        disk_size_gb=pool.disk_size_gib,
                        disk_type=pool.disk_type,
                        image_type=parsed.node_os.image_type,
                        service_account=node_sa.email,
                        oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                        workload_metadata_config=container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                            mode="GKE_METADATA"
                        ),
                        shielded_instance_config=container.NodePoolNodeConfigShieldedInstanceConfigArgs(**shielded),
                        metadata=node_metadata,
                        labels={**pool.labels, POOL_LABEL: pool.name},
                        taints=_taints(pool),
                        resource_labels=labels,
                    ),
                    # Never protected: a protected pool could not be replaced by its successor.
                    opts=pulumi.ResourceOptions.merge(
                        child,
                        pulumi.ResourceOptions(
                            # Nodes must find their roles and their egress in place when they boot.
                            depends_on=[*grants, *egress],
                            # The autoscaler owns the node count once the pool exists.
                            ignore_changes=["initialNodeCount"],
                        ),
                    ),
                )
            )

        # ---------------------------------------------------------------- kubeconfig and contract
        endpoint = cluster.endpoint.apply(lambda host: f"https://{host}")
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
                lambda args: _kubeconfig(spec.name, args[0], args[1])
            )
        )
        provider = make_provider(name, Target.GKE, kubeconfig, parent=self, depends_on=pools, cloud_name=cloud_name)

        self.network = network
        self.subnetwork = subnet
        self.node_service_account = node_sa
        self.cluster = cluster
        self.node_pools = pools
        self._finish(
            ClusterContract(
                name=spec.name,
                target=Target.GKE,
                facts=spec.facts_for_plan(),
                kubernetes_version=cluster.master_version,
                endpoint=endpoint,
                kubeconfig=kubeconfig,
                provider=provider,
                oidc_issuer=cluster.name.apply(lambda n: oidc_issuer_url(project, region, n)),
                workload_identity=WorkloadIdentity(kind="gcp-workload-identity", project=project),
                # Without the PD CSI driver GKE has no working disk StorageClass at all.
                storage_class=STORAGE_CLASS if storage.gce_persistent_disk_csi_driver else None,
                handles={"cluster_name": cluster.name, "project": cluster.project, "location": cluster.location},
                ready=pools,
                cloud_name=cloud_name,
            )
        )
