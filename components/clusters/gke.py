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
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_gcp import compute, container, projects, serviceaccount

from components.clusters.checks.gke import GKE_NAME_MAX, validate
from components.clusters.contract import (
    POOL_LABEL,
    ClusterComponent,
    ClusterContract,
    GkeHandles,
    WorkloadIdentity,
    exec_kubeconfig,
    make_provider,
    output_or,
    required_output,
)
from components.clusters.spec import GkeClusterSpec, GkeNodePool
from components.lifecycle import fixed_name, pool_name
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

TAINT_EFFECTS: dict[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


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
        adopt_existing: bool = False,
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
            # Google Groups for RBAC: RoleBindings to a Google group (team spaces) hold only through this group.
            authenticator_groups_config=(
                container.ClusterAuthenticatorGroupsConfigArgs(security_group=spec.rbac_security_group)
                if spec.rbac_security_group
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
        host = required_output(cluster.endpoint, spec.name, Target.GKE, "API server endpoint")
        endpoint = host.apply(lambda h: f"https://{h}")
        ca = required_output(
            cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate if auth else None),
            spec.name,
            Target.GKE,
            "cluster CA certificate (master_auth.cluster_ca_certificate)",
        )
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(host, ca).apply(lambda args: _kubeconfig(spec.name, args[0], args[1]))
        )
        provider = make_provider(
            name,
            Target.GKE,
            kubeconfig,
            parent=self,
            depends_on=pools,
            cloud_name=cloud_name,
            adopt_existing=adopt_existing,
        )

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
                kubernetes_version=output_or(cluster.master_version, spec.kubernetes_version),
                endpoint=endpoint,
                kubeconfig=kubeconfig,
                provider=provider,
                oidc_issuer=cluster.name.apply(lambda n: oidc_issuer_url(project, region, n)),
                workload_identity=WorkloadIdentity(kind="gcp-workload-identity", project=project),
                # Without the PD CSI driver GKE has no working disk StorageClass at all.
                storage_class=STORAGE_CLASS if storage.gce_persistent_disk_csi_driver else None,
                handles=GkeHandles(cluster_name=cluster.name, project=cluster.project, location=cluster.location),
                ready=pools,
                cloud_name=cloud_name,
            )
        )
