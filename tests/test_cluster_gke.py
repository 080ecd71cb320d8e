"""GkeCluster under Pulumi mocks: graph, GKE requirements, kubeconfig, secrecy, protect, labels, errors."""

from __future__ import annotations

import base64
import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from components.clusters import build_cluster
from components.clusters.checks.gke import (
    GCP_LABEL_KEY,
    GCP_LABEL_VALUE,
    gcp_label_key,
    gcp_label_value,
    gcp_labels,
    validate,
    validate_settings,
)
from components.clusters.contract import GkeHandles
from components.clusters.gke import AUTH_PLUGIN, NODE_ROLES, GkeCluster, node_service_account_id
from components.clusters.spec import GkeClusterSpec
from packs.model import Target
from tests.mocks import GraphMocks, is_secret, resolve, settle

NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ROUTER = "gcp:compute/router:Router"
NAT = "gcp:compute/routerNat:RouterNat"
ACCOUNT = "gcp:serviceaccount/account:Account"
MEMBER = "gcp:projects/iAMMember:IAMMember"
CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
PROVIDER = "pulumi:providers:kubernetes"
COMPONENT = "strata:clusters:GkeCluster"

PROJECT = "acme-prod-42"
REGION = "europe-west1"
ENDPOINT = "34.78.12.201"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIELTCCApWgAwIBAgIRAJ==\n-----END CERTIFICATE-----\n").decode()
SA_EMAIL = f"prod-euw1-nodes@{PROJECT}.iam.gserviceaccount.com"


def answer(mocks: GraphMocks) -> None:
    """What GCP computes: the endpoint, CA and master version of the cluster, the node account's e-mail."""
    mocks.state_for[CLUSTER] = lambda args: {
        "endpoint": ENDPOINT,
        "masterAuth": {"clusterCaCertificate": CA},
        "masterVersion": "1.31.6-gke.1020000",
    }
    mocks.state_for[ACCOUNT] = lambda args: {
        "email": f"{args.inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com",
        "member": f"serviceAccount:{args.inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com",
    }


def make_spec(**changes: Any) -> GkeClusterSpec:
    data: dict[str, Any] = {
        "target": "gke",
        "name": "prod-euw1",
        "kubernetes_version": "1.31",
        "profiles": ["platform-gke@1.0.0"],
        "project": PROJECT,
        "region": REGION,
        "labels": {"env": "prod"},
        "node_pools": [
            {"name": "system", "system": True, "min_size": 1, "max_size": 3},
            {
                "name": "batch",
                "min_size": 0,
                "max_size": 10,
                "desired_size": 2,
                "machine_type": "n2-standard-8",
                "spot": True,
                "disk_size_gib": 200,
                "disk_type": "pd-ssd",
                "labels": {"workload": "batch", "example.com/team": "data"},
                "taints": [
                    {"key": "dedicated", "value": "batch", "effect": "NoSchedule"},
                    {"key": "spot", "effect": "PreferNoSchedule"},
                    {"key": "drain", "value": "x", "effect": "NoExecute"},
                ],
            },
        ],
    }
    data.update(changes)
    return GkeClusterSpec.model_validate(data)


def build(
    mocks: GraphMocks,
    settings: dict[str, Any] | None = None,
    protect: bool = False,
    tags: dict[str, str] | None = None,
    **changes: Any,
) -> GkeCluster:
    answer(mocks)
    spec = make_spec(**changes)
    cluster = GkeCluster(spec.name, spec, settings=settings, protect=protect, tags=tags)
    settle()
    return cluster


# ------------------------------------------------------------------------------------------------- graph


def test_graph_names_types_and_parents(mocks: GraphMocks) -> None:
    build(mocks)
    component = mocks.named("prod-euw1", COMPONENT)
    expected = {
        "prod-euw1-vpc": NETWORK,
        "prod-euw1-subnet": SUBNET,
        "prod-euw1-router": ROUTER,
        "prod-euw1-nat": NAT,
        "prod-euw1-node-sa": ACCOUNT,
        "prod-euw1-gke": CLUSTER,
        "prod-euw1-nodes-system": POOL,
        "prod-euw1-nodes-batch": POOL,
        "prod-euw1-k8s": PROVIDER,
    }
    for name, typ in expected.items():
        assert mocks.named(name).typ == typ
    assert len(mocks.of_type(MEMBER)) == len(NODE_ROLES)
    children = [r for r in mocks.resources if r.typ != COMPONENT]
    assert children and all(r.parent == component.urn for r in children)
    assert len({r.urn for r in mocks.resources}) == len(mocks.resources)


def test_two_clusters_do_not_collide(mocks: GraphMocks) -> None:
    answer(mocks)
    for name in ("prod-euw1", "prod-euw4"):
        spec = make_spec(name=name, region="europe-west4")
        GkeCluster(name, spec)
    settle()
    assert len(mocks.of_type(CLUSTER)) == 2
    names = [r.name for r in mocks.resources]
    assert len(names) == len(set(names))
    accounts = {r.inputs["accountId"] for r in mocks.of_type(ACCOUNT)}
    assert accounts == {"prod-euw1-nodes", "prod-euw4-nodes"}


def test_network_is_custom_vpc_native_with_private_google_access(mocks: GraphMocks) -> None:
    build(mocks)
    network = mocks.named("prod-euw1-vpc")
    assert network.inputs["autoCreateSubnetworks"] is False
    subnet = mocks.named("prod-euw1-subnet")
    assert subnet.inputs["ipCidrRange"] == "10.10.0.0/20"
    assert subnet.inputs["region"] == REGION
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert subnet.inputs["network"] == network.resource_id
    assert subnet.inputs["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": "10.20.0.0/14"},
        {"rangeName": "services", "ipCidrRange": "10.24.0.0/20"},
    ]


def test_private_nodes_get_cloud_nat(mocks: GraphMocks) -> None:
    build(mocks)
    router = mocks.named("prod-euw1-router")
    nat = mocks.named("prod-euw1-nat")
    assert router.inputs["network"] == mocks.named("prod-euw1-vpc").resource_id
    assert router.inputs["region"] == REGION
    assert nat.inputs["router"] == router.inputs["name"]
    assert nat.inputs["region"] == REGION
    assert nat.inputs["natIpAllocateOption"] == "AUTO_ONLY"
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"


def test_public_nodes_have_no_nat_and_no_private_config(mocks: GraphMocks) -> None:
    build(mocks, private_nodes=False)
    assert not mocks.of_type(ROUTER) and not mocks.of_type(NAT)
    assert "privateClusterConfig" not in mocks.named("prod-euw1-gke").inputs


def test_node_service_account_has_exactly_the_least_privilege_roles(mocks: GraphMocks) -> None:
    build(mocks)
    account = mocks.named("prod-euw1-node-sa")
    assert account.inputs["accountId"] == "prod-euw1-nodes"
    assert account.inputs["project"] == PROJECT
    members = mocks.of_type(MEMBER)
    assert sorted(m.inputs["role"] for m in members) == sorted(
        [
            "roles/logging.logWriter",
            "roles/monitoring.metricWriter",
            "roles/monitoring.viewer",
            "roles/stackdriver.resourceMetadata.writer",
            "roles/artifactregistry.reader",
        ]
    )
    for m in members:
        assert m.inputs["project"] == PROJECT
        assert m.inputs["member"] == f"serviceAccount:{SA_EMAIL}"


# ------------------------------------------------------------------------------------------------ cluster


def test_cluster_requirements(mocks: GraphMocks) -> None:
    build(mocks, master_authorized_networks=["203.0.113.0/24", "10.200.0.0/16"])
    inputs = mocks.named("prod-euw1-gke").inputs
    assert inputs["name"] == "prod-euw1"
    assert inputs["project"] == PROJECT
    assert inputs["location"] == REGION  # regional: control plane and pools in three zones
    assert inputs["network"] == mocks.named("prod-euw1-vpc").resource_id
    assert inputs["subnetwork"] == mocks.named("prod-euw1-subnet").resource_id
    assert inputs["networkingMode"] == "VPC_NATIVE"
    assert inputs["removeDefaultNodePool"] is True
    assert inputs["initialNodeCount"] == 1
    assert inputs["minMasterVersion"] == "1.31"
    assert inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert inputs["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert inputs["privateClusterConfig"] == {
        "enablePrivateNodes": True,
        "enablePrivateEndpoint": False,
        "masterIpv4CidrBlock": "172.16.0.0/28",
    }
    assert inputs["masterAuthorizedNetworksConfig"] == {
        "cidrBlocks": [
            {"cidrBlock": "203.0.113.0/24", "displayName": "authorized-0"},
            {"cidrBlock": "10.200.0.0/16", "displayName": "authorized-1"},
        ]
    }
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in inputs  # Dataplane V2 enforces policy itself and refuses Calico
    assert inputs["addonsConfig"] == {
        "gcePersistentDiskCsiDriverConfig": {"enabled": True},
        "gcpFilestoreCsiDriverConfig": {"enabled": False},
    }
    assert inputs["loggingConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}
    assert inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS"]
    assert inputs["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
    # The default pool lives for minutes but must not run as the Compute Engine default account.
    default_pool = inputs["nodeConfig"]
    assert default_pool["serviceAccount"] == SA_EMAIL
    assert default_pool["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert mocks.named("prod-euw1-gke").ignore_changes == ["nodeConfig"]


def test_no_authorized_networks_means_no_firewall_block(mocks: GraphMocks) -> None:
    build(mocks)
    # An empty cidrBlocks list would enable the firewall with nothing allowed.
    assert "masterAuthorizedNetworksConfig" not in mocks.named("prod-euw1-gke").inputs


def test_private_endpoint(mocks: GraphMocks) -> None:
    build(mocks, private_endpoint=True, master_authorized_networks=["10.100.0.0/24"])
    inputs = mocks.named("prod-euw1-gke").inputs
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"][0]["cidrBlock"] == "10.100.0.0/24"


def test_settings_shape_dataplane_storage_and_image(mocks: GraphMocks) -> None:
    settings = {
        "node-os": {"image_type": "UBUNTU_CONTAINERD"},
        "network": {"datapath_provider": "LEGACY_DATAPATH"},
        "storage": {"gce_persistent_disk_csi_driver": True, "filestore_csi_driver": True},
    }
    build(mocks, settings=settings)
    inputs = mocks.named("prod-euw1-gke").inputs
    assert inputs["datapathProvider"] == "LEGACY_DATAPATH"
    # The legacy dataplane enforces NetworkPolicy only through Calico.
    assert inputs["networkPolicy"] == {"enabled": True, "provider": "CALICO"}
    assert inputs["addonsConfig"]["networkPolicyConfig"] == {"disabled": False}
    assert inputs["addonsConfig"]["gcpFilestoreCsiDriverConfig"] == {"enabled": True}
    for pool in mocks.of_type(POOL):
        assert pool.inputs["nodeConfig"]["imageType"] == "UBUNTU_CONTAINERD"


def test_without_pd_csi_there_is_no_storage_class(mocks: GraphMocks) -> None:
    cluster = build(mocks, settings={"storage": {"gce_persistent_disk_csi_driver": False}})
    inputs = mocks.named("prod-euw1-gke").inputs
    assert inputs["addonsConfig"]["gcePersistentDiskCsiDriverConfig"] == {"enabled": False}
    assert cluster.contract.storage_class is None


def test_cluster_waits_for_node_roles_and_egress(mocks: GraphMocks) -> None:
    build(mocks)
    deps = set(mocks.named("prod-euw1-gke").dependencies)
    assert {m.urn for m in mocks.of_type(MEMBER)} <= deps
    assert mocks.named("prod-euw1-nat").urn in deps


# --------------------------------------------------------------------------------------------- node pools


def test_node_pools(mocks: GraphMocks) -> None:
    build(mocks)
    cluster = mocks.named("prod-euw1-gke")
    system = mocks.named("prod-euw1-nodes-system")
    batch = mocks.named("prod-euw1-nodes-batch")
    for pool in (system, batch):
        assert pool.inputs["cluster"] == "prod-euw1"
        assert cluster.urn in pool.dependencies
        assert pool.inputs["location"] == REGION
        assert pool.inputs["project"] == PROJECT
        assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert pool.ignore_changes == ["initialNodeCount"]
        config = pool.inputs["nodeConfig"]
        assert config["serviceAccount"] == SA_EMAIL
        assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert config["imageType"] == "COS_CONTAINERD"
        assert {m.urn for m in mocks.of_type(MEMBER)} <= set(pool.dependencies)
        assert mocks.named("prod-euw1-nat").urn in pool.dependencies

    assert re.fullmatch(r"system-[0-9a-z]{5}", system.inputs["name"])
    assert system.inputs["initialNodeCount"] == 1
    assert system.inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3, "locationPolicy": "BALANCED"}
    assert system.inputs["nodeConfig"]["machineType"] == "e2-standard-4"
    assert system.inputs["nodeConfig"]["spot"] is False
    assert system.inputs["nodeConfig"]["diskSizeGb"] == 100
    assert system.inputs["nodeConfig"]["diskType"] == "pd-balanced"

    assert batch.inputs["initialNodeCount"] == 2
    assert batch.inputs["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 10, "locationPolicy": "ANY"}
    config = batch.inputs["nodeConfig"]
    assert config["machineType"] == "n2-standard-8"
    assert config["spot"] is True
    assert config["diskSizeGb"] == 200
    assert config["diskType"] == "pd-ssd"
    assert config["labels"] == {"workload": "batch", "example.com/team": "data", "strata.io/node-pool": "batch"}
    assert config["taints"] == [
        {"key": "dedicated", "value": "batch", "effect": "NO_SCHEDULE"},
        {"key": "spot", "value": "", "effect": "PREFER_NO_SCHEDULE"},
        {"key": "drain", "value": "x", "effect": "NO_EXECUTE"},
    ]


# -------------------------------------------------------------------------------------- kubeconfig & contract


def test_kubeconfig_is_secret_and_uses_the_auth_plugin(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    assert is_secret(cluster.kubeconfig)
    assert is_secret(cluster.contract.kubeconfig)
    doc = yaml.safe_load(resolve(cluster.kubeconfig))
    assert doc["clusters"][0]["cluster"] == {"server": f"https://{ENDPOINT}", "certificate-authority-data": CA}
    user = doc["users"][0]["user"]
    assert set(user) == {"exec"}  # no token, no client certificate, no password
    assert user["exec"]["command"] == AUTH_PLUGIN
    assert user["exec"]["args"] == []
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert "gcloud components install gke-gcloud-auth-plugin" in user["exec"]["installHint"]
    # Deterministic: the same cluster yields the same text.
    assert resolve(cluster.kubeconfig) == resolve(cluster.contract.kubeconfig)


def test_provider_is_stable_and_waits_for_every_pool(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    provider = mocks.named("prod-euw1-k8s")
    identifier = provider.inputs["clusterIdentifier"]
    assert identifier == "strata/gke/prod-euw1"
    assert ENDPOINT not in identifier and CA not in identifier and AUTH_PLUGIN not in identifier
    assert {p.urn for p in mocks.of_type(POOL)} <= set(provider.dependencies)
    assert cluster.contract.provider is cluster.provider


def test_contract(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    contract = cluster.contract
    assert contract.name == "prod-euw1"
    assert contract.target is Target.GKE
    assert contract.facts == make_spec().facts_for_plan()
    assert contract.facts.region == REGION
    assert resolve(contract.kubernetes_version) == "1.31.6-gke.1020000"
    assert resolve(contract.endpoint) == f"https://{ENDPOINT}"
    assert not is_secret(contract.endpoint)
    assert contract.oidc_issuer is not None
    assert resolve(contract.oidc_issuer) == (
        f"https://container.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/clusters/prod-euw1"
    )
    wi = contract.workload_identity
    assert wi is not None and wi.kind == "gcp-workload-identity" and wi.project == PROJECT
    assert contract.storage_class == "standard-rwo"
    assert isinstance(contract.handles, GkeHandles)
    assert resolve(contract.handles.cluster_name) == "prod-euw1"
    assert resolve(contract.handles.project) == PROJECT
    assert resolve(contract.handles.location) == REGION
    assert list(contract.ready) == cluster.node_pools and len(cluster.node_pools) == 2


def test_build_cluster_reaches_the_component(mocks: GraphMocks) -> None:
    answer(mocks)
    cluster = build_cluster(make_spec(), {"node-os": {"image_type": "UBUNTU_CONTAINERD"}}, protect=True)
    settle()
    assert isinstance(cluster, GkeCluster)
    assert mocks.named("prod-euw1-gke").protect is True


# --------------------------------------------------------------------------------------- protect and labels


def test_protect_in_production(mocks: GraphMocks) -> None:
    build(mocks, protect=True)
    for name in ("prod-euw1-gke", "prod-euw1-vpc", "prod-euw1-subnet"):
        assert mocks.named(name).protect is True, name
    # Pools stay replaceable: a protected pool could never make way for its successor.
    for name in ("prod-euw1-nodes-system", "prod-euw1-nodes-batch"):
        assert mocks.named(name).protect is False, name
    assert mocks.named("prod-euw1-gke").inputs["deletionProtection"] is True


def test_no_protect_otherwise(mocks: GraphMocks) -> None:
    build(mocks, protect=False)
    assert not any(r.protect for r in mocks.resources)
    # The provider's own default is true: it must be turned off explicitly, or a teardown fails.
    assert mocks.named("prod-euw1-gke").inputs["deletionProtection"] is False


def test_labels_sanitised_on_every_labelled_resource(mocks: GraphMocks) -> None:
    tags = {"strata-environment": "prod", "Owner": "Platform Team", "cost.center": "CC-1234"}
    build(mocks, tags=tags, labels={"env": "prod", "tier": "Gold"})
    expected = {
        "strata-environment": "prod",
        "owner": "platform_team",
        "cost_center": "cc-1234",
        "env": "prod",
        "tier": "gold",
    }
    assert mocks.named("prod-euw1-gke").inputs["resourceLabels"] == expected
    assert mocks.named("prod-euw1-gke").inputs["nodeConfig"]["resourceLabels"] == expected
    for pool in mocks.of_type(POOL):
        assert pool.inputs["nodeConfig"]["resourceLabels"] == expected


# ------------------------------------------------------------------------------------------------ errors


def _networks(n: int) -> list[str]:
    return [f"203.0.{i // 256}.{i % 256}/32" for i in range(n)]


POOL_SYSTEM = {"name": "system", "system": True}

ERRORS: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, str] | None, str]] = [
    ({}, {"network": {"datapath_provider": "CILIUM"}}, None, r"^settings\.network\.datapath_provider: "),
    ({}, {"storage": {"bogus": True}}, None, r"^settings\.storage\.bogus: "),
    ({}, {"node-os": {"image_type": "WINDOWS_LTSC"}}, None, r"^settings\.node-os\.image_type: "),
    ({"name": "a" * 41}, None, None, r"^name: GKE cluster names are 1-40 characters"),
    ({"name": "1prod"}, None, None, r"^name: .*start with a lowercase letter"),
    ({"subnet_cidr": "fd00:10::/64"}, None, None, r"^subnet_cidr: fd00:10::/64 is IPv6"),
    ({"master_authorized_networks": ["2001:db8::/32"]}, None, None, r"^master_authorized_networks\[0\]: .* IPv6"),
    (
        {"private_nodes": False, "private_endpoint": True, "master_authorized_networks": ["10.1.0.0/16"]},
        None,
        None,
        r"^private_endpoint: a private control plane endpoint needs private_nodes: true",
    ),
    ({"private_endpoint": True}, None, None, r"^master_authorized_networks: with private_endpoint: true"),
    (
        {"private_nodes": False, "master_authorized_networks": _networks(51)},
        None,
        None,
        r"^master_authorized_networks: 51 entries; GKE allows 50 for a public cluster",
    ),
    (
        {"master_authorized_networks": _networks(101)},
        None,
        None,
        r"^master_authorized_networks: 101 entries; GKE allows 100 for a private cluster",
    ),
    (
        {"pods_cidr": "10.20.0.0/23", "node_pools": [POOL_SYSTEM]},
        None,
        None,
        r"^pods_cidr: 10\.20\.0\.0/23 holds pod ranges .* for 2 nodes, but the node pools may grow to 9 nodes",
    ),
    (
        {"subnet_cidr": "10.10.0.0/28", "node_pools": [{**POOL_SYSTEM, "max_size": 5}]},
        None,
        None,
        r"^subnet_cidr: 10\.10\.0\.0/28 has 12 usable addresses, but the node pools may grow to 15 nodes",
    ),
    (
        {"node_pools": [POOL_SYSTEM, {"name": "p" * 35}]},
        None,
        None,
        r"^node_pools\[1\]\.name: node pool names are 1-34 characters",
    ),
    ({"node_pools": [POOL_SYSTEM, {"name": "2nd"}]}, None, None, r"^node_pools\[1\]\.name: .*'2nd'"),
    (
        {"node_pools": [{**POOL_SYSTEM, "min_size": 0}]},
        None,
        None,
        r"^node_pools\[0\]\.min_size: a system pool needs at least one node per zone",
    ),
    ({"labels": {"team": "b"}}, None, {"Team": "a"}, r"^labels: 'Team' and 'team' both become the GCP label 'team'"),
    ({"labels": {f"l{i}": "v" for i in range(65)}}, None, None, r"^labels: 65 labels .* GCP allows 64"),
]


@pytest.mark.parametrize(("changes", "settings", "tags", "message"), ERRORS)
def test_invalid_input_fails_before_any_resource(
    mocks: GraphMocks,
    changes: dict[str, Any],
    settings: dict[str, Any] | None,
    tags: dict[str, str] | None,
    message: str,
) -> None:
    answer(mocks)
    spec = make_spec(**changes)
    with pytest.raises(ValueError, match=message):
        GkeCluster(spec.name, spec, settings=settings, tags=tags)
    settle()
    assert mocks.resources == []


def test_label_and_taint_syntax_is_refused_by_the_spec() -> None:
    """Kubernetes' own syntax rules belong to the node pool model (tests/unit/test_node_pool_spec.py)."""
    bad = {"name": "apps", "labels": {"ok": "not ok"}, "taints": [{"key": "x", "value": "a b", "effect": "NoSchedule"}]}
    with pytest.raises(ValidationError) as info:
        make_spec(node_pools=[POOL_SYSTEM, bad])
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("node_pools", 1, "labels"), "Value error, value 'not ok' of 'ok' is not a valid label value"),
        (("node_pools", 1, "taints", 0, "value"), "Value error, 'a b' is not a valid taint value"),
    ]


def test_same_label_twice_with_the_same_value_is_fine() -> None:
    assert gcp_labels({"Team": "a", "team": "A"}) == {"team": "a"}


def test_validate_settings_defaults() -> None:
    parsed = validate_settings(None)
    assert parsed.node_os.image_type == "COS_CONTAINERD"
    assert parsed.network.datapath_provider == "ADVANCED_DATAPATH"
    assert parsed.storage.gce_persistent_disk_csi_driver is True
    assert parsed.storage.filestore_csi_driver is False


# ----------------------------------------------------------------------------------- pure-function properties

#: GCP's rule for keys and values, written out independently of the module under test.
KEY_RULE = re.compile(r"\A[a-z][a-z0-9_-]{0,62}\Z")
VALUE_RULE = re.compile(r"\A[a-z0-9_-]{0,63}\Z")


@given(st.text())
def test_any_text_becomes_a_valid_label_key(key: str) -> None:
    out = gcp_label_key(key)
    assert KEY_RULE.match(out) and GCP_LABEL_KEY.match(out)
    assert gcp_label_key(out) == out  # sanitising is idempotent: a valid key is left alone


@given(st.text())
def test_any_text_becomes_a_valid_label_value(value: str) -> None:
    out = gcp_label_value(value)
    assert VALUE_RULE.match(out) and GCP_LABEL_VALUE.match(out)
    assert gcp_label_value(out) == out


@given(st.dictionaries(st.text(), st.text(), max_size=20))
def test_label_maps_are_valid_or_refused_by_name(labels: dict[str, str]) -> None:
    try:
        out = gcp_labels(labels)
    except ValueError as exc:
        assert str(exc).startswith("labels: ")
        return
    assert all(KEY_RULE.match(k) and VALUE_RULE.match(v) for k, v in out.items())
    assert len(out) <= 64


@given(st.from_regex(r"\A[a-z]([-a-z0-9]{0,38}[a-z0-9])?\Z"))
def test_node_account_id_is_always_a_valid_account_id(cluster: str) -> None:
    account = node_service_account_id(cluster)
    assert re.match(r"\A[a-z][-a-z0-9]{4,28}[a-z0-9]\Z", account), account
    assert node_service_account_id(cluster) == account


def test_long_cluster_names_sharing_a_prefix_get_different_accounts() -> None:
    a = node_service_account_id("payments-platform-europe-west1-blue")
    b = node_service_account_id("payments-platform-europe-west1-green")
    assert a != b and len(a) <= 30 and len(b) <= 30


def test_valid_labels_pass_unchanged() -> None:
    labels = {k: v for k, v in zip(string.ascii_lowercase, string.digits, strict=False)}
    assert gcp_labels(labels) == labels


def test_documented_example_is_a_valid_cluster(root: Path) -> None:
    text = (root / "docs" / "targets" / "gke.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    entry = yaml.safe_load(block)["config"]["strata:clusters"][0]
    spec = GkeClusterSpec.model_validate(entry)
    parsed, labels = validate(spec, {}, {"owner": "platform"})
    assert parsed.network.datapath_provider == "ADVANCED_DATAPATH"
    assert labels == {"owner": "platform", "env": "prod"}
