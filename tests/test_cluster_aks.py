"""AksCluster under Pulumi mocks: graph, AKS requirements, kubeconfig conversion, secrecy, protect, tags, errors."""

from __future__ import annotations

import base64
import re
from typing import Any

import pulumi
import pytest
import yaml
from pydantic import ValidationError

from components.clusters import build_cluster
from components.clusters.aks import AKS_AAD_SERVER_ID, AksCluster, exec_kubeconfig_from_credential
from components.clusters.checks.aks import validate_settings
from components.clusters.contract import AksHandles
from components.clusters.spec import AksClusterSpec
from packs.model import Target
from tests.mocks import GraphMocks, is_secret, resolve, settle

RG = "azure-native:resources:ResourceGroup"
MC = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
PROVIDER = "pulumi:providers:kubernetes"
CREDENTIALS = "azure-native:containerservice:listManagedClusterUserCredentials"
CLIENT_CONFIG = "azure-native:authorization:getClientConfig"

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
GROUP = "0b1f8e7a-3c52-4c1e-9d6a-5f0e2a7b9c11"
FQDN = "prod-weu-k3x9a2b1.hcp.westeurope.azmk8s.io"
ISSUER = "https://westeurope.oic.prod-aks.azure.com/72f988bf-86f1-41af-91ab-2d7cd011db47/5d8f0c4e-1b2a/"
CA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIE6DCCAtCgAwIBAgIQd2Vhc3RldXJvcGU=\n-----END CERTIFICATE-----\n"
).decode()

#: What listClusterUserCredential returns with format=exec for a managed-AAD cluster (tenant/client ids vary).
EXEC_CREDENTIAL = f"""\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {CA}
    server: https://{FQDN}:443
  name: prod-weu
contexts:
- context:
    cluster: prod-weu
    user: clusterUser_prod-weu-rg_prod-weu
  name: prod-weu
current-context: prod-weu
kind: Config
preferences: {{}}
users:
- name: clusterUser_prod-weu-rg_prod-weu
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - get-token
      - --environment
      - AzurePublicCloud
      - --server-id
      - {AKS_AAD_SERVER_ID}
      - --client-id
      - 80faf920-1908-4b52-b5ef-a8e7bedfc67a
      - --tenant-id
      - {TENANT}
      - --login
      - devicecode
      command: kubelogin
      env: null
      installHint: |2

        kubelogin is not installed which is required to connect to AAD enabled cluster.
      provideClusterInfo: false
"""

#: The legacy azure auth-provider format, plus a token: neither may survive the conversion.
LEGACY_CREDENTIAL = f"""\
apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://other.example.com:443
    certificate-authority-data: b3RoZXI=
- name: prod-weu
  cluster:
    server: https://{FQDN}:443
    certificate-authority-data: {CA}
contexts:
- name: prod-weu
  context: {{cluster: prod-weu, user: clusterUser}}
current-context: prod-weu
users:
- name: clusterUser
  user:
    token: 3f1c0e9d8b7a6f5e4d3c2b1a
    auth-provider:
      name: azure
      config:
        apiserver-id: {AKS_AAD_SERVER_ID}
        client-id: 80faf920-1908-4b52-b5ef-a8e7bedfc67a
        config-mode: "1"
        environment: AzurePublicCloud
        tenant-id: {TENANT}
"""


def make_spec(**overrides: Any) -> AksClusterSpec:
    data: dict[str, Any] = {
        "target": "aks",
        "name": "prod-weu",
        "kubernetes_version": "1.31",
        "profiles": ["azure-standard@1.0.0"],
        "location": "westeurope",
        "labels": {"team": "platform"},
        "admin_group_object_ids": [GROUP],
        "node_pools": [
            {"name": "system", "system": True, "min_size": 2, "max_size": 4, "vm_size": "Standard_D4s_v5"},
            {
                "name": "apps",
                "min_size": 0,
                "max_size": 10,
                "desired_size": 2,
                "vm_size": "Standard_D8s_v5",
                "zones": ["1", "2"],
                "os_disk_size_gib": 256,
                "max_pods": 60,
                "labels": {"workload": "apps"},
                "taints": [
                    {"key": "dedicated", "value": "apps", "effect": "NoSchedule"},
                    {"key": "spotty", "effect": "PreferNoSchedule"},
                ],
            },
            {"name": "sys2", "system": True, "min_size": 1, "max_size": 1},
        ],
    }
    data.update(overrides)
    return AksClusterSpec.model_validate(data)


def answer(mocks: GraphMocks, credential: str = EXEC_CREDENTIAL, fqdn: str | None = FQDN) -> None:
    """Cloud-computed outputs: autonamed names, the API FQDN, the OIDC issuer; and the two invokes."""

    def cluster_state(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        state: dict[str, Any] = {
            "name": f"{args.name}1a2b3c",
            "oidcIssuerProfile": {"enabled": True, "issuerURL": ISSUER},
            "privateFQDN": "prod-weu-k3x9a2b1.privatelink.westeurope.azmk8s.io",
        }
        if fqdn is not None:
            state["fqdn"] = fqdn
        return state

    mocks.state_for[RG] = lambda args: {"name": f"{args.name}4d5e6f"}
    mocks.state_for[MC] = cluster_state
    mocks.calls[CREDENTIALS] = lambda args: {
        "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(credential.encode()).decode()}]
    }
    mocks.calls[CLIENT_CONFIG] = lambda args: {
        "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "objectId": "9a8b7c6d-0000-1111-2222-333344445555",
        "subscriptionId": "00000000-1111-2222-3333-444444444444",
        "tenantId": TENANT,
    }


def build(
    mocks: GraphMocks,
    spec: AksClusterSpec | None = None,
    settings: dict[str, Any] | None = None,
    protect: bool = False,
    tags: dict[str, str] | None = None,
) -> AksCluster:
    answer(mocks)
    spec = spec or make_spec()
    cluster = AksCluster(spec.name, spec, settings=settings or {}, protect=protect, tags=tags or {"owner": "ops"})
    settle()
    return cluster


# ------------------------------------------------------------------------------------ kubeconfig conversion


def test_exec_credential_becomes_an_azurecli_kubelogin_kubeconfig() -> None:
    doc = yaml.safe_load(exec_kubeconfig_from_credential("prod-weu", EXEC_CREDENTIAL))
    assert doc["clusters"] == [
        {"name": "prod-weu", "cluster": {"server": f"https://{FQDN}:443", "certificate-authority-data": CA}}
    ]
    assert doc["current-context"] == "prod-weu"
    user = doc["users"][0]["user"]
    assert set(user) == {"exec"}
    assert user["exec"]["command"] == "kubelogin"
    assert user["exec"]["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_AAD_SERVER_ID]
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert "devicecode" not in exec_kubeconfig_from_credential("prod-weu", EXEC_CREDENTIAL)


def test_legacy_credential_keeps_the_current_context_cluster_and_drops_the_token() -> None:
    text = exec_kubeconfig_from_credential("prod-weu", LEGACY_CREDENTIAL)
    doc = yaml.safe_load(text)
    assert doc["clusters"][0]["cluster"]["server"] == f"https://{FQDN}:443"
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == CA
    assert "3f1c0e9d8b7a6f5e4d3c2b1a" not in text
    assert "auth-provider" not in text


def test_conversion_is_deterministic_whatever_the_credential_user_section() -> None:
    assert exec_kubeconfig_from_credential("prod-weu", EXEC_CREDENTIAL) == exec_kubeconfig_from_credential(
        "prod-weu", LEGACY_CREDENTIAL
    )


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ("not: a kubeconfig", "not a kubeconfig with a cluster"),
        ("clusters:\n- name: x\n  cluster: {server: https://x:443}\n", "no server or certificate-authority-data"),
    ],
)
def test_conversion_rejects_unusable_credentials(credential: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exec_kubeconfig_from_credential("prod-weu", credential)


# ------------------------------------------------------------------------------------------------ graph


def test_graph_names_types_and_parents(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    component = mocks.named("prod-weu", "strata:clusters:AksCluster")
    assert [r.name for r in mocks.of_type(RG)] == ["prod-weu-rg"]
    assert [r.name for r in mocks.of_type(MC)] == ["prod-weu-aks"]
    assert sorted(r.name for r in mocks.of_type(POOL)) == ["prod-weu-nodes-apps", "prod-weu-nodes-sys2"]
    assert [r.name for r in mocks.of_type(PROVIDER)] == ["prod-weu-k8s"]
    for r in mocks.resources:
        if r is not component:
            assert r.parent == component.urn, r.name
    rg = mocks.named("prod-weu-rg")
    mc = mocks.named("prod-weu-aks")
    assert rg.urn in mc.dependencies
    for pool in mocks.of_type(POOL):
        assert mc.urn in pool.dependencies
        assert pool.inputs["resourceName"] == "prod-weu-aks1a2b3c"
        assert pool.inputs["resourceGroupName"] == "prod-weu-rg4d5e6f"
    assert isinstance(cluster, AksCluster)


def test_cluster_identity_authentication_and_features(mocks: GraphMocks) -> None:
    build(mocks)
    mc = mocks.named("prod-weu-aks").inputs
    assert mc["location"] == "westeurope"
    assert mc["kubernetesVersion"] == "1.31"
    assert mc["dnsPrefix"] == "prod-weu"
    assert mc["identity"] == {"type": "SystemAssigned"}
    assert mc["sku"] == {"name": "Base", "tier": "Standard"}
    assert mc["oidcIssuerProfile"] == {"enabled": True}
    assert mc["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    assert mc["aadProfile"] == {
        "managed": True,
        "enableAzureRBAC": True,
        "tenantID": TENANT,
        "adminGroupObjectIDs": [GROUP],
    }
    assert mc["disableLocalAccounts"] is True
    assert mc["enableRBAC"] is True
    assert "apiServerAccessProfile" not in mc
    assert mc["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert mc["storageProfile"] == {
        "diskCSIDriver": {"enabled": True},
        "fileCSIDriver": {"enabled": True},
        "snapshotController": {"enabled": True},
    }
    net = mc["networkProfile"]
    assert {k: net[k] for k in net if k != "outboundType"} == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "azure",
        "networkPolicy": "azure",
        "podCidr": "192.168.0.0/16",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
        "loadBalancerSku": "standard",
    }
    assert [c[0] for c in mocks.call_log].count(CLIENT_CONFIG) == 1


def test_tenant_from_spec_skips_the_client_config_lookup(mocks: GraphMocks) -> None:
    other = "3b1d9c4e-aaaa-bbbb-cccc-0123456789ab"
    build(mocks, make_spec(tenant_id=other))
    assert mocks.named("prod-weu-aks").inputs["aadProfile"]["tenantID"] == other
    assert CLIENT_CONFIG not in [c[0] for c in mocks.call_log]


def test_only_the_first_system_pool_is_inline(mocks: GraphMocks) -> None:
    build(mocks)
    profiles = mocks.named("prod-weu-aks").inputs["agentPoolProfiles"]
    assert len(profiles) == 1
    inline = profiles[0]
    assert inline["name"] == "system"
    assert inline["mode"] == "System"
    assert inline["vmSize"] == "Standard_D4s_v5"
    assert inline["osSKU"] == "AzureLinux"
    assert inline["osType"] == "Linux"
    assert inline["type"] == "VirtualMachineScaleSets"
    assert (inline["enableAutoScaling"], inline["count"], inline["minCount"], inline["maxCount"]) == (True, 2, 2, 4)
    assert mocks.named("prod-weu-aks").ignore_changes == ["agentPoolProfiles[0].count"]


def test_separate_pools_carry_mode_size_scaling_labels_and_taints(mocks: GraphMocks) -> None:
    build(mocks)
    apps = mocks.named("prod-weu-nodes-apps")
    assert re.fullmatch(r"apps[0-9a-z]{5}", apps.inputs["agentPoolName"])
    assert apps.inputs["mode"] == "User"
    assert apps.inputs["vmSize"] == "Standard_D8s_v5"
    assert apps.inputs["availabilityZones"] == ["1", "2"]
    assert apps.inputs["osDiskSizeGB"] == 256
    assert apps.inputs["maxPods"] == 60
    assert apps.inputs["osSKU"] == "AzureLinux"
    assert apps.inputs["nodeLabels"] == {"workload": "apps", "strata.io/node-pool": "apps"}
    assert apps.inputs["nodeTaints"] == ["dedicated=apps:NoSchedule", "spotty=:PreferNoSchedule"]
    assert (apps.inputs["enableAutoScaling"], apps.inputs["count"]) == (True, 2)
    assert (apps.inputs["minCount"], apps.inputs["maxCount"]) == (0, 10)
    assert apps.ignore_changes == ["count"]

    sys2 = mocks.named("prod-weu-nodes-sys2")
    assert sys2.inputs["mode"] == "System"
    assert sys2.inputs["enableAutoScaling"] is False
    assert sys2.inputs["count"] == 1
    assert "minCount" not in sys2.inputs and "maxCount" not in sys2.inputs
    assert sys2.ignore_changes == []


def test_fixed_size_inline_pool_has_no_ignored_count(mocks: GraphMocks) -> None:
    spec = make_spec(node_pools=[{"name": "system", "system": True, "min_size": 3, "max_size": 3}])
    build(mocks, spec)
    inline = mocks.named("prod-weu-aks").inputs["agentPoolProfiles"][0]
    assert inline["enableAutoScaling"] is False and inline["count"] == 3
    assert mocks.named("prod-weu-aks").ignore_changes == []
    assert mocks.of_type(POOL) == []


def test_settings_shape_network_storage_and_node_os(mocks: GraphMocks) -> None:
    settings = {
        "node-os": {"os_sku": "Ubuntu"},
        "network": {"network_dataplane": "cilium", "network_policy": "cilium"},
        "storage": {"disk_csi_driver": False, "file_csi_driver": False, "snapshot_controller": False},
    }
    cluster = build(mocks, settings=settings)
    mc = mocks.named("prod-weu-aks").inputs
    assert mc["networkProfile"]["networkDataplane"] == "cilium"
    assert mc["networkProfile"]["networkPolicy"] == "cilium"
    assert mc["storageProfile"] == {
        "diskCSIDriver": {"enabled": False},
        "fileCSIDriver": {"enabled": False},
        "snapshotController": {"enabled": False},
    }
    assert mc["agentPoolProfiles"][0]["osSKU"] == "Ubuntu"
    assert {p.inputs["osSKU"] for p in mocks.of_type(POOL)} == {"Ubuntu"}
    assert cluster.contract.storage_class is None


def test_without_overlay_or_policy_neither_is_sent(mocks: GraphMocks) -> None:
    build(mocks, settings={"network": {"network_plugin_mode": None, "network_policy": None}})
    net = mocks.named("prod-weu-aks").inputs["networkProfile"]
    assert "networkPluginMode" not in net and "networkPolicy" not in net
    # The spec's value rather than the SDK's hidden 10.244.0.0/16 default; AKS ignores it without overlay.
    assert net["podCidr"] == "192.168.0.0/16"


def test_private_cluster(mocks: GraphMocks) -> None:
    build(mocks, make_spec(private_cluster=True))
    mc = mocks.named("prod-weu-aks").inputs
    assert mc["apiServerAccessProfile"] == {"enablePrivateCluster": True, "enablePrivateClusterPublicFQDN": True}
    call = next(args for token, args in mocks.call_log if token == CREDENTIALS)
    assert call["serverFqdn"] == "public"


def test_endpoint_falls_back_to_the_private_fqdn(mocks: GraphMocks) -> None:
    answer(mocks, fqdn=None)
    spec = make_spec(private_cluster=True)
    cluster = AksCluster(spec.name, spec)
    settle()
    assert resolve(cluster.endpoint) == "https://prod-weu-k3x9a2b1.privatelink.westeurope.azmk8s.io:443"


def test_existing_resource_group_is_used_not_created(mocks: GraphMocks) -> None:
    cluster = build(mocks, make_spec(resource_group="shared-aks"))
    assert mocks.of_type(RG) == []
    assert mocks.named("prod-weu-aks").inputs["resourceGroupName"] == "shared-aks"
    assert {p.inputs["resourceGroupName"] for p in mocks.of_type(POOL)} == {"shared-aks"}
    assert isinstance(cluster.contract.handles, AksHandles)
    assert resolve(cluster.contract.handles.resource_group_name) == "shared-aks"
    wi = cluster.contract.workload_identity
    assert wi is not None and wi.resource_group is not None
    assert resolve(wi.resource_group) == "shared-aks"


def test_build_cluster_reaches_the_component(mocks: GraphMocks) -> None:
    answer(mocks)
    spec = make_spec()
    cluster = build_cluster(spec, {"node-os": {"os_sku": "Ubuntu"}}, protect=True, tags={"owner": "ops"})
    settle()
    assert isinstance(cluster, AksCluster)
    assert mocks.named("prod-weu-aks").protect is True


# -------------------------------------------------------------------------------------- kubeconfig & contract


def test_kubeconfig_is_secret_exec_and_built_from_the_credential(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    assert is_secret(cluster.kubeconfig)
    assert is_secret(cluster.contract.kubeconfig)
    text = resolve(cluster.kubeconfig)
    assert text == exec_kubeconfig_from_credential("prod-weu", EXEC_CREDENTIAL)
    call = next(args for token, args in mocks.call_log if token == CREDENTIALS)
    assert call["format"] == "exec"
    assert call["resourceGroupName"] == "prod-weu-rg4d5e6f"
    assert call["resourceName"] == "prod-weu-aks1a2b3c"
    assert "serverFqdn" not in call


def test_no_token_survives_even_from_a_token_credential(mocks: GraphMocks) -> None:
    answer(mocks, credential=LEGACY_CREDENTIAL)
    spec = make_spec()
    cluster = AksCluster(spec.name, spec)
    settle()
    assert "3f1c0e9d8b7a6f5e4d3c2b1a" not in resolve(cluster.kubeconfig)
    assert is_secret(cluster.kubeconfig)


def test_provider_is_stable_secret_and_waits_for_every_pool(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    provider = mocks.named("prod-weu-k8s")
    assert provider.inputs["clusterIdentifier"] == "strata/aks/prod-weu"
    assert CA not in provider.inputs["clusterIdentifier"] and "kubelogin" not in provider.inputs["clusterIdentifier"]
    assert provider.inputs["enableServerSideApply"] == "true"
    expected = {mocks.named("prod-weu-aks").urn} | {p.urn for p in mocks.of_type(POOL)}
    assert expected <= set(provider.dependencies)
    assert cluster.contract.provider is cluster.provider


def test_contract(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    contract = cluster.contract
    assert contract.name == "prod-weu"
    assert contract.target is Target.AKS
    assert contract.facts.region == "westeurope"
    assert contract.facts.nodes == 3
    assert resolve(contract.kubernetes_version) == "1.31"
    assert resolve(contract.endpoint) == f"https://{FQDN}:443"
    assert not is_secret(contract.endpoint)
    assert contract.oidc_issuer is not None and resolve(contract.oidc_issuer) == ISSUER
    wi = contract.workload_identity
    assert wi is not None and wi.kind == "azure-workload-identity"
    assert wi.issuer is not None and wi.resource_group is not None  # what federated credentials are built from
    assert resolve(wi.issuer) == ISSUER
    assert resolve(wi.resource_group) == "prod-weu-rg4d5e6f"
    assert wi.location == "westeurope"
    assert contract.storage_class == "managed-csi"
    assert isinstance(contract.handles, AksHandles)
    assert resolve(contract.handles.cluster_name) == "prod-weu-aks1a2b3c"
    assert resolve(contract.handles.resource_group_name) == "prod-weu-rg4d5e6f"
    assert contract.ready[0] is cluster.cluster
    assert list(contract.ready[1:]) == cluster.node_pools and len(cluster.node_pools) == 2


# --------------------------------------------------------------------------------------- protect and tags


def test_protect_in_production(mocks: GraphMocks) -> None:
    build(mocks, protect=True)
    for r in [*mocks.of_type(RG), *mocks.of_type(MC)]:
        assert r.protect is True, r.name
    # Separately managed pools stay replaceable: a protected pool could never make way for its successor.
    assert mocks.of_type(POOL) and not any(r.protect for r in mocks.of_type(POOL))
    assert mocks.named("prod-weu-k8s").protect is False


def test_no_protect_otherwise(mocks: GraphMocks) -> None:
    build(mocks, protect=False)
    assert not any(r.protect for r in mocks.resources)


def test_tags_and_labels_on_every_taggable_resource(mocks: GraphMocks) -> None:
    build(mocks, tags={"owner": "ops", "strata-cluster": "prod-weu"})
    expected = {"owner": "ops", "strata-cluster": "prod-weu", "team": "platform"}
    for r in [*mocks.of_type(RG), *mocks.of_type(MC), *mocks.of_type(POOL)]:
        assert r.inputs["tags"] == expected, r.name
    assert mocks.named("prod-weu-aks").inputs["agentPoolProfiles"][0]["tags"] == expected


# ------------------------------------------------------------------------------------------------- errors

POOLS_OK = [{"name": "system", "system": True}]


@pytest.mark.parametrize(
    ("spec_overrides", "settings", "message"),
    [
        (
            {},
            {"network": {"network_dataplane": "ebpf"}},
            r"settings\.network\.network_dataplane: unknown value 'ebpf'; use one of azure, cilium",
        ),
        (
            {},
            {"node-os": {"os_sku": "Windows2022"}},
            r"settings\.node-os\.os_sku: unknown value 'Windows2022'; use one of Ubuntu, AzureLinux",
        ),
        ({}, {"networking": {}}, r"settings\.networking: unknown field; did you mean 'network'\?"),
        (
            {},
            {"network": {"network_dataplane": "cilium", "network_plugin_mode": None, "network_policy": "cilium"}},
            r"settings\.network\.network_plugin_mode: the cilium dataplane needs overlay",
        ),
        (
            {},
            {"network": {"network_dataplane": "cilium", "network_policy": "azure"}},
            r"settings\.network\.network_policy: the cilium dataplane enforces policy itself",
        ),
        (
            {},
            {"network": {"network_dataplane": "azure", "network_policy": "cilium"}},
            r"settings\.network\.network_policy: 'cilium' needs settings\.network\.network_dataplane: cilium",
        ),
        (
            {"service_cidr": "10.224.0.0/16", "dns_service_ip": "10.224.0.10"},
            {},
            r"service_cidr: 10\.224\.0\.0/16 overlaps 10\.224\.0\.0/12",
        ),
        (
            {"pod_cidr": "172.30.0.0/16"},
            {},
            r"pod_cidr: 172\.30\.0\.0/16 overlaps 172\.30\.0\.0/16, which AKS reserves",
        ),
        ({"name": "a" * 55}, {}, r"name: 'a+' is longer than 54 characters"),
        ({"tenant_id": "contoso.onmicrosoft.com"}, {}, r"tenant_id: 'contoso\.onmicrosoft\.com' is not a GUID"),
        (
            {"admin_group_object_ids": [GROUP, "platform-admins"]},
            {},
            r"admin_group_object_ids\[1\]: 'platform-admins' is not an Entra ID object id",
        ),
        (
            {"node_pools": [*POOLS_OK, {"name": "1gpu"}]},
            {},
            r"node_pools\[1\]\.name: AKS pool names start with a lowercase letter",
        ),
        (
            {"node_pools": [*POOLS_OK, {"name": "sys2", "system": True, "min_size": 0}]},
            {},
            r"node_pools\[1\]\.min_size: a system pool needs at least one node",
        ),
        (
            {"node_pools": [{"name": "system", "system": True, "max_pods": 20}]},
            {},
            r"node_pools\[0\]\.max_pods: a system pool must allow at least 30 pods",
        ),
        (
            {"node_pools": [*POOLS_OK, {"name": "apps", "labels": {"kubernetes.azure.com/mode": "user"}}]},
            {},
            r"node_pools\[1\]\.labels: 'kubernetes\.azure\.com/mode' uses a prefix AKS reserves",
        ),
    ],
)
def test_invalid_input_fails_before_any_resource(
    mocks: GraphMocks, spec_overrides: dict[str, Any], settings: dict[str, Any], message: str
) -> None:
    answer(mocks)
    spec = make_spec(**spec_overrides)
    with pytest.raises(ValueError, match=message):
        AksCluster(spec.name, spec, settings=settings)
    settle()
    assert mocks.resources == []
    assert mocks.call_log == []


def test_label_and_taint_syntax_is_refused_by_the_spec() -> None:
    """Kubernetes' own syntax rules belong to the node pool model (tests/unit/test_node_pool_spec.py)."""
    bad = {
        "name": "apps",
        "labels": {"a..b/tier": "x"},
        "taints": [{"key": "k", "value": "a:b", "effect": "NoExecute"}],
    }
    with pytest.raises(ValidationError) as info:
        make_spec(node_pools=[*POOLS_OK, bad])
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("node_pools", 1, "labels"), "Value error, key 'a..b/tier': prefix is not a DNS subdomain"),
        (("node_pools", 1, "taints", 0, "value"), "Value error, 'a:b' is not a valid taint value"),
    ]


def test_duplicate_pool_names_are_caught_by_the_spec_and_again_by_the_component(mocks: GraphMocks) -> None:
    twice = [{"name": "system", "system": True}, {"name": "system"}]
    with pytest.raises(ValidationError, match=r"node pool names used twice: \['system'\]"):
        make_spec(node_pools=twice)
    # A spec copied with model_copy(update=...) skips pydantic validation; the component still refuses it.
    base = make_spec()
    copied = base.model_copy(update={"node_pools": (base.node_pools[0], base.node_pools[0])})
    with pytest.raises(ValueError, match=r"node_pools\[1\]\.name: 'system' is used by another pool"):
        AksCluster(copied.name, copied)
    settle()
    assert mocks.resources == []


def test_validate_hook_runs_without_an_engine() -> None:
    """The environment program calls ``AksCluster.validate`` before registering anything."""
    parsed = AksCluster.validate(make_spec(), {"node-os": {"os_sku": "Ubuntu"}})
    assert parsed.node_os.os_sku == "Ubuntu"
    with pytest.raises(ValueError, match=r"^node_pools\[1\]\.name: AKS pool names start with a lowercase letter"):
        AksCluster.validate(make_spec(node_pools=[*POOLS_OK, {"name": "9x"}]), {})


def test_validate_settings_defaults() -> None:
    parsed = validate_settings({})
    assert parsed.node_os.os_sku == "AzureLinux"
    assert parsed.network.network_plugin_mode == "overlay"
    assert parsed.storage.disk_csi_driver is True
