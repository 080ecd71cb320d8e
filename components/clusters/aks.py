"""An AKS cluster behind the strata cluster contract.

What it creates, and why each choice was made:

- a resource group (unless ``spec.resource_group`` names an existing one), so that a cluster and everything
  Azure creates beside it go away together;
- a ``ManagedCluster`` with a system-assigned identity, Entra ID (managed AAD) authentication with Azure RBAC,
  local accounts disabled (so no static admin credential exists anywhere), the OIDC issuer and workload identity
  (packs get cloud identities through federated credentials, never secrets), Azure CNI (overlay by default) and
  the managed CSI drivers chosen by the profile;
- only the *first* system pool inline in ``agentPoolProfiles``: the API refuses a cluster without a pool, but it
  also refuses adding or removing pools through the cluster resource later, so every other pool is its own
  ``AgentPool`` resource that can be added, replaced or drained independently;
- a kubeconfig that runs ``kubelogin`` with the Azure CLI's login, built from the endpoint and CA of the
  cluster-user credential, so the stored kubeconfig holds no token and never changes between runs.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi
import yaml
from pulumi_azure_native import authorization, containerservice, resources

from components.clusters.checks.aks import validate_spec
from components.clusters.contract import (
    POOL_LABEL,
    AksHandles,
    ClusterComponent,
    ClusterContract,
    MissingOutputError,
    WorkloadIdentity,
    exec_kubeconfig,
    make_provider,
    output_or,
    required_output,
)
from components.clusters.spec import AksClusterSpec, AksNodePool
from components.lifecycle import pool_name
from packs.model import Target

if TYPE_CHECKING:
    from components.delivery.installers import InstallRequest

#: The application id of the AKS Entra ID server app; every AKS cluster with managed AAD accepts tokens for it.
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
KUBELOGIN_ARGS: tuple[str, ...] = ("get-token", "--login", "azurecli", "--server-id", AKS_AAD_SERVER_ID)
KUBELOGIN_INSTALL_HINT = (
    "kubelogin is required to reach AKS clusters with Entra ID authentication: "
    "'az aks install-cli' or https://azure.github.io/kubelogin/install.html"
)
#: The StorageClass the Azure Disk CSI driver installs on every AKS cluster.
STORAGE_CLASS = "managed-csi"
#: Linux agent pool names: at most 12 lowercase letters and digits.
AGENT_POOL_NAME_MAX = 12


def agent_pool_name(pool: AksNodePool, os_sku: str) -> str:
    """The Azure name of a separately managed pool: a new one whenever a field AKS cannot change in place changes.

    VM size, OS disk, zones and pod density are fixed for the life of an agent pool; with a new name the
    replacement is created beside the old pool, which drains once its successor is up. The name is the
    pool's first letters and a digest (12 characters in all); nodes carry the full name as a label.
    """
    forcing = {
        "vm_size": pool.vm_size,
        "os_disk_size_gib": pool.os_disk_size_gib,
        "zones": list(pool.zones),
        "max_pods": pool.max_pods,
        "os_sku": os_sku,
    }
    return pool_name(pool.name, forcing, AGENT_POOL_NAME_MAX, separator="")


# ----------------------------------------------------------------------------------------- kubeconfig


def exec_kubeconfig_from_credential(name: str, credential_kubeconfig: str) -> str:
    """The strata kubeconfig for an AKS cluster, from the kubeconfig ``listClusterUserCredential`` returns.

    Whatever user section Azure returns (a ``devicecode`` exec plugin, a legacy ``azure`` auth-provider) suits
    a person at a terminal, not an unattended deployment; only the endpoint and CA are kept, and the user
    becomes ``kubelogin get-token --login azurecli`` so a deployment authenticates as whoever runs it, with
    no token stored and the same text on every run.
    """
    doc = yaml.safe_load(credential_kubeconfig)
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ValueError("the AKS credential is not a kubeconfig with a cluster")
    clusters: list[dict[str, Any]] = doc["clusters"]
    chosen = clusters[0]
    current = doc.get("current-context")
    for context in doc.get("contexts") or []:
        if context.get("name") == current:
            wanted = (context.get("context") or {}).get("cluster")
            chosen = next((c for c in clusters if c.get("name") == wanted), chosen)
            break
    cluster = chosen.get("cluster") or {}
    server = cluster.get("server")
    ca_data = cluster.get("certificate-authority-data")
    if not server or not ca_data:
        raise ValueError("the AKS credential has no server or certificate-authority-data")
    return exec_kubeconfig(name, server, ca_data, "kubelogin", KUBELOGIN_ARGS, install_hint=KUBELOGIN_INSTALL_HINT)


def _from_credentials(name: str, result: Any) -> str:
    kubeconfigs = result.kubeconfigs or []
    if not kubeconfigs:
        raise MissingOutputError(name, Target.AKS, "user credential (listManagedClusterUserCredentials)")
    return exec_kubeconfig_from_credential(name, base64.b64decode(kubeconfigs[0].value).decode("utf-8"))


# ----------------------------------------------------------------------------------------- the component


def _taint(key: str, value: str, effect: str) -> str:
    # AKS takes node taints as key=value:Effect and refuses the form without '=', so an empty value stays 'key=:'.
    return f"{key}={value}:{effect}"


def _scaling(pool: AksNodePool) -> dict[str, Any]:
    """Autoscaler bounds when the pool may scale; a fixed count when min_size == max_size."""
    if pool.min_size < pool.max_size:
        return {
            "count": pool.initial_size,
            "enable_auto_scaling": True,
            "min_count": pool.min_size,
            "max_count": pool.max_size,
        }
    return {"count": pool.max_size, "enable_auto_scaling": False}


class AksCluster(ClusterComponent):
    """An AKS cluster with Entra ID + Azure RBAC, workload identity and separately managed node pools."""

    #: The component's own checks, creating nothing; the plan and the program run them for every cluster
    #: before anything is registered (components/clusters/checks).
    validate = staticmethod(validate_spec)

    def __init__(
        self,
        name: str,
        spec: AksClusterSpec,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        protect: bool = False,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        adopt_existing: bool = False,
    ) -> None:
        # Checked before even the component registers: a rejected spec leaves nothing behind in the stack.
        parsed = validate_spec(spec, settings, tags)
        super().__init__("strata:clusters:AksCluster", name, None, opts)

        all_tags = {**dict(tags or {}), **spec.labels}
        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect))
        os_sku = parsed.node_os.os_sku

        # ---------------------------------------------------------------- resource group
        if spec.resource_group is None:
            group = resources.ResourceGroup(f"{name}-rg", location=spec.location, tags=all_tags, opts=guarded)
            rg_name: pulumi.Output[str] = group.name
        else:
            rg_name = pulumi.Output.from_input(spec.resource_group)

        tenant_id: pulumi.Input[str] = (
            spec.tenant_id
            if spec.tenant_id is not None
            else authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self)).tenant_id
        )

        # ---------------------------------------------------------------- the cluster and its first system pool
        system_pools = [p for p in spec.node_pools if p.system]
        first = system_pools[0]
        others = [p for p in spec.node_pools if p is not first]

        net = parsed.network
        storage = parsed.storage
        cluster_ignore = ["agentPoolProfiles[0].count"] if first.min_size < first.max_size else []

        cluster = containerservice.ManagedCluster(
            f"{name}-aks",
            resource_group_name=rg_name,
            location=spec.location,
            kubernetes_version=spec.kubernetes_version,
            # Fixed for the cluster's life, so it keeps the cloud name through renames.
            dns_prefix=spec.cloud_name,
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.SYSTEM_ASSIGNED
            ),
            sku=containerservice.ManagedClusterSKUArgs(
                name=containerservice.ManagedClusterSKUName.BASE, tier=spec.sku_tier
            ),
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                tenant_id=tenant_id,
                admin_group_object_ids=list(spec.admin_group_object_ids),
            ),
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            api_server_access_profile=(
                containerservice.ManagedClusterAPIServerAccessProfileArgs(
                    enable_private_cluster=True,
                    # A public DNS name (resolving to the private IP) lets peered networks and VPN clients reach
                    # the API without linking the cluster's private DNS zone to every network.
                    enable_private_cluster_public_fqdn=True,
                )
                if spec.private_cluster
                else containerservice.ManagedClusterAPIServerAccessProfileArgs(
                    authorized_ip_ranges=list(spec.authorized_ip_ranges)
                )
                if spec.authorized_ip_ranges
                else None
            ),
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=net.network_plugin,
                network_plugin_mode=net.network_plugin_mode,
                network_dataplane=net.network_dataplane,
                network_policy=net.network_policy,
                # Used by overlay only; without overlay pods take node-subnet addresses and AKS ignores it. It is
                # sent either way because the SDK would otherwise fill in its own default.
                pod_cidr=spec.pod_cidr,
                service_cidr=spec.service_cidr,
                dns_service_ip=spec.dns_service_ip,
                load_balancer_sku=containerservice.LoadBalancerSku.STANDARD,
            ),
            storage_profile=containerservice.ManagedClusterStorageProfileArgs(
                disk_csi_driver=containerservice.ManagedClusterStorageProfileDiskCSIDriverArgs(
                    enabled=storage.disk_csi_driver
                ),
                file_csi_driver=containerservice.ManagedClusterStorageProfileFileCSIDriverArgs(
                    enabled=storage.file_csi_driver
                ),
                snapshot_controller=containerservice.ManagedClusterStorageProfileSnapshotControllerArgs(
                    enabled=storage.snapshot_controller
                ),
            ),
            agent_pool_profiles=[
                containerservice.ManagedClusterAgentPoolProfileArgs(
                    name=first.name,
                    mode=containerservice.AgentPoolMode.SYSTEM,
                    type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                    os_type=containerservice.OSType.LINUX,
                    os_sku=os_sku,
                    vm_size=first.vm_size,
                    availability_zones=list(first.zones),
                    os_disk_size_gb=first.os_disk_size_gib,
                    max_pods=first.max_pods,
                    node_labels={**first.labels, POOL_LABEL: first.name},
                    node_taints=[_taint(t.key, t.value, t.effect) for t in first.taints],
                    tags=all_tags,
                    **_scaling(first),
                )
            ],
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                # The spec pins a minor version; patches and node images follow it automatically.
                upgrade_channel=containerservice.UpgradeChannel.PATCH,
                node_os_upgrade_channel=containerservice.NodeOSUpgradeChannel.NODE_IMAGE,
            ),
            tags=all_tags,
            opts=pulumi.ResourceOptions.merge(guarded, pulumi.ResourceOptions(ignore_changes=cluster_ignore)),
        )

        # ---------------------------------------------------------------- every other pool
        pools: list[containerservice.AgentPool] = []
        for pool in others:
            scaling = _scaling(pool)
            pools.append(
                containerservice.AgentPool(
                    f"{name}-nodes-{pool.name}",
                    resource_group_name=rg_name,
                    resource_name_=cluster.name,
                    agent_pool_name=agent_pool_name(pool, os_sku),
                    mode=containerservice.AgentPoolMode.SYSTEM if pool.system else containerservice.AgentPoolMode.USER,
                    type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                    os_type=containerservice.OSType.LINUX,
                    os_sku=os_sku,
                    vm_size=pool.vm_size,
                    availability_zones=list(pool.zones),
                    os_disk_size_gb=pool.os_disk_size_gib,
                    max_pods=pool.max_pods,
                    node_labels={**pool.labels, POOL_LABEL: pool.name},
                    node_taints=[_taint(t.key, t.value, t.effect) for t in pool.taints],
                    tags=all_tags,
                    **scaling,
                    # The cluster autoscaler owns the node count once the pool exists. Never protected: a
                    # protected pool could not be replaced by its successor.
                    opts=pulumi.ResourceOptions.merge(
                        child,
                        pulumi.ResourceOptions(ignore_changes=["count"] if scaling["enable_auto_scaling"] else []),
                    ),
                )
            )

        # ---------------------------------------------------------------- kubeconfig and contract
        # Secret from the moment it is read: the credentials are the cluster's admin access.
        credentials: pulumi.Output[containerservice.ListManagedClusterUserCredentialsResult] = pulumi.Output.secret(
            containerservice.list_managed_cluster_user_credentials_output(
                resource_group_name=rg_name,
                resource_name=cluster.name,
                format="exec",
                server_fqdn="public" if spec.private_cluster else None,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
        )
        kubeconfig = credentials.apply(lambda result: _from_credentials(spec.name, result))
        fqdn = required_output(
            pulumi.Output.all(cluster.fqdn, cluster.private_fqdn).apply(lambda fqdns: fqdns[0] or fqdns[1]),
            spec.name,
            Target.AKS,
            "API server address (fqdn or private_fqdn)",
        )
        endpoint = fqdn.apply(lambda host: f"https://{host}:443")
        # The spec always enables the OIDC issuer: workload identities cannot be federated without its URL.
        issuer: pulumi.Output[str] = required_output(
            cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else None),
            spec.name,
            Target.AKS,
            "OIDC issuer URL (oidc_issuer_profile.issuer_url)",
        )

        ready: list[pulumi.Resource] = [cluster, *pools]
        provider = make_provider(
            name,
            Target.AKS,
            kubeconfig,
            parent=self,
            depends_on=ready,
            cloud_name=spec.cloud_name,
            adopt_existing=adopt_existing,
        )

        self.resource_group_name = rg_name
        self.cluster = cluster
        self.node_pools = pools
        self._finish(
            ClusterContract(
                name=spec.name,
                target=Target.AKS,
                facts=spec.facts_for_plan(),
                kubernetes_version=output_or(cluster.kubernetes_version, spec.kubernetes_version),
                endpoint=endpoint,
                kubeconfig=kubeconfig,
                provider=provider,
                oidc_issuer=issuer,
                workload_identity=WorkloadIdentity(
                    kind="azure-workload-identity", issuer=issuer, resource_group=rg_name, location=spec.location
                ),
                storage_class=STORAGE_CLASS if storage.disk_csi_driver else None,
                load_balancer=True,
                handles=AksHandles(cluster_name=cluster.name, resource_group_name=rg_name),
                ready=ready,
                cloud_name=spec.cloud_name,
            )
        )


__all__ = [
    "AKS_AAD_SERVER_ID",
    "KUBELOGIN_ARGS",
    "AksCluster",
    "exec_kubeconfig_from_credential",
]


class AksExtensionInstaller:
    """An ``aks-extension`` pack as a cluster extension (components/delivery/installers.py selects it): ordinary
    values as configuration settings, values filled from secret variables only as protected settings."""

    def install(self, request: InstallRequest) -> None:
        from pulumi_azure_native import kubernetesconfiguration

        from components.packstack import extension_settings

        pack, handles = request.pack, request.cluster.handles
        assert isinstance(handles, AksHandles) and pack.source.kind == "managed"
        settings, protected = extension_settings(pack.values, request.values)
        kubernetesconfiguration.Extension(
            request.name,
            cluster_name=handles.cluster_name,
            cluster_resource_name="managedClusters",
            cluster_rp="Microsoft.ContainerService",
            resource_group_name=handles.resource_group_name,
            extension_type=pack.source.name,
            version=pack.source.version,
            auto_upgrade_minor_version=pack.source.version is None,
            configuration_settings=settings,
            configuration_protected_settings=protected,
            scope=kubernetesconfiguration.ScopeArgs(
                cluster=kubernetesconfiguration.ScopeClusterArgs(release_namespace=pack.namespace)
            )
            if pack.namespace
            else None,
            opts=request.opts(),
        )
