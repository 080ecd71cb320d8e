"""EksCluster under Pulumi mocks: graph, EKS requirements, subnet maths, secrecy, protect, tags, every error."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from components.clusters import build_cluster
from components.clusters.checks.eks import (
    instance_architecture,
    kubelet_refuses_label,
    partition_for,
    validate,
    validate_settings,
)
from components.clusters.contract import EksHandles
from components.clusters.eks import EKS_UNSUPPORTED_ZONE_IDS, EksCluster, pick_zones, plan_subnets, spot_warnings
from components.clusters.spec import EksClusterSpec
from packs.model import Target
from tests.mocks import GraphMocks, is_secret, resolve, settle

COMPONENT = "strata:clusters:EksCluster"
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
KEY = "aws:kms/key:Key"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
IGW = "aws:ec2/internetGateway:InternetGateway"
EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_ASSOC = "aws:ec2/routeTableAssociation:RouteTableAssociation"
PROVIDER = "pulumi:providers:kubernetes"
ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"

ACCOUNT = "111122223333"
ENDPOINT = "https://0A1B2C3D4E5F60718293A4B5C6D7E8F9.gr7.eu-west-1.eks.amazonaws.com"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWUQK"
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin"
BREAKGLASS = f"arn:aws:iam::{ACCOUNT}:user/breakglass"
ZONE_NAMES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
TAGS = {"owner": "ops"}
EXPECTED_TAGS = {"owner": "ops", "team": "platform"}

#: Resource types AWS can tag; everything of these types must carry the common tags.
TAGGABLE = {CLUSTER, NODE_GROUP, ACCESS_ENTRY, ROLE, OIDC, KEY, VPC, SUBNET, IGW, EIP, NAT, ROUTE_TABLE}


def make_spec(**overrides: Any) -> EksClusterSpec:
    data: dict[str, Any] = {
        "target": "eks",
        "name": "prod-euw1",
        "kubernetes_version": "1.31",
        "profiles": ["aws-standard@1.0.0"],
        "region": "eu-west-1",
        "labels": {"team": "platform"},
        "admins": [ADMIN, BREAKGLASS],
        "node_pools": [
            {"name": "system", "system": True, "min_size": 2, "max_size": 4, "instance_types": ["m6i.large"]},
            {
                "name": "apps",
                "min_size": 0,
                "max_size": 10,
                "desired_size": 3,
                "instance_types": ["m6i.xlarge", "m6a.xlarge", "m5.xlarge"],
                "capacity_type": "SPOT",
                "disk_size_gib": 100,
                "labels": {"workload": "apps", "node.kubernetes.io/pool": "apps"},
                "taints": [
                    {"key": "dedicated", "value": "apps", "effect": "NoSchedule"},
                    {"key": "spot", "effect": "PreferNoSchedule"},
                    {"key": "drain", "value": "soon", "effect": "NoExecute"},
                ],
            },
            {"name": "fixed", "min_size": 2, "max_size": 2, "instance_types": ["c6i.large"]},
        ],
    }
    data.update(overrides)
    return EksClusterSpec.model_validate(data)


def answer(mocks: GraphMocks, zones: list[str] | None = None) -> None:
    """Cloud-computed outputs (endpoint, CA, issuer, ARNs) and the availability-zone lookup."""
    mocks.state_for[CLUSTER] = lambda args: {
        "arn": f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/{args.inputs['name']}",
        "endpoint": ENDPOINT,
        "certificateAuthority": {"data": CA},
        "identities": [{"oidcs": [{"issuer": ISSUER}]}],
    }
    mocks.state_for[ROLE] = lambda args: {"arn": f"arn:aws:iam::{ACCOUNT}:role/{args.name}-abc1234", "name": args.name}
    mocks.state_for[KEY] = lambda args: {"arn": KEY_ARN}
    mocks.state_for[OIDC] = lambda args: {"arn": OIDC_ARN}
    mocks.state_for[EIP] = lambda args: {"allocationId": f"eipalloc-{args.name}"}
    mocks.calls[ZONES] = lambda args: {
        "names": ZONE_NAMES if zones is None else zones,
        "zoneIds": [f"euw1-az{i + 1}" for i in range(len(ZONE_NAMES if zones is None else zones))],
    }


def build(
    mocks: GraphMocks,
    spec: EksClusterSpec | None = None,
    settings_: dict[str, Any] | None = None,
    protect: bool = False,
    tags: dict[str, str] | None = None,
) -> EksCluster:
    answer(mocks)
    spec = spec or make_spec()
    cluster = EksCluster(spec.name, spec, settings=settings_ or {}, protect=protect, tags=tags or TAGS)
    settle()
    return cluster


def deps(mocks: GraphMocks, name: str, typ: str) -> set[str]:
    return set(mocks.named(name, typ).dependencies)


# ------------------------------------------------------------------------------------------ subnet maths


def test_default_vpc_layout() -> None:
    plan = plan_subnets("10.0.0.0/16", 3)
    assert plan.private == ("10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19")
    assert plan.public == ("10.0.128.0/21", "10.0.136.0/21", "10.0.144.0/21")


def test_smallest_vpc_with_most_zones_still_fits() -> None:
    plan = plan_subnets("10.20.0.0/20", 6)
    assert plan.private == tuple(f"10.20.{i}.0/24" for i in range(6))
    assert plan.public[0] == "10.20.8.0/26" and plan.public[-1] == "10.20.9.64/26"


def test_subnet_maths_rejects_ipv6_too_small_and_no_zones() -> None:
    with pytest.raises(ValueError, match="not an IPv4 network"):
        plan_subnets("fd00::/56", 2)
    with pytest.raises(ValueError, match=r"too small for 8 zones: public subnets would be /30"):
        plan_subnets("10.0.0.0/24", 8)
    with pytest.raises(ValueError, match="zones must be at least 1"):
        plan_subnets("10.0.0.0/16", 0)


@settings(max_examples=300, deadline=None)
@given(
    address=st.integers(min_value=0, max_value=2**32 - 1),
    prefix=st.integers(min_value=8, max_value=22),
    zones=st.integers(min_value=1, max_value=8),
)
def test_subnets_never_overlap_and_stay_inside_the_vpc(address: int, prefix: int, zones: int) -> None:
    vpc = ipaddress.IPv4Network((address, prefix), strict=False)
    try:
        plan = plan_subnets(str(vpc), zones)
    except ValueError:
        # Only ever refused because a public subnet would be smaller than AWS allows.
        assert prefix + 1 + (zones - 1).bit_length() + 2 > 28
        return
    subnets = [ipaddress.IPv4Network(s) for s in (*plan.private, *plan.public)]
    assert len(plan.private) == len(plan.public) == zones
    for subnet in subnets:
        assert subnet.subnet_of(vpc)
        assert subnet.prefixlen <= 28
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    # Private subnets (nodes and pods) are always the larger ones, and the layout is deterministic.
    assert all(
        ipaddress.ip_network(p).num_addresses > ipaddress.ip_network(q).num_addresses
        for p, q in zip(plan.private, plan.public, strict=True)
    )
    assert plan_subnets(str(vpc), zones) == plan


def test_pick_zones() -> None:
    assert pick_zones(ZONE_NAMES, 2, "eu-west-1") == ["eu-west-1a", "eu-west-1b"]
    with pytest.raises(ValueError, match=r"vpc\.availability_zones: 4 zones requested but eu-west-1 has 3 usable"):
        pick_zones(ZONE_NAMES, 4, "eu-west-1")
    with pytest.raises(ValueError, match=r"has 0 usable for EKS \(none\)"):
        pick_zones(None, 2, "eu-west-1")


def test_partitions_architectures_and_kubelet_labels() -> None:
    assert partition_for("eu-west-1") == "aws"
    assert partition_for("cn-northwest-1") == "aws-cn"
    assert partition_for("us-gov-west-1") == "aws-us-gov"
    for graviton in ("m7g.large", "c7gn.2xlarge", "r8gd.xlarge", "t4g.small", "g5g.xlarge", "im4gn.large", "a1.large"):
        assert instance_architecture(graviton) == "arm64", graviton
    for x86 in ("m6i.large", "g4dn.xlarge", "g4ad.xlarge", "c7a.large", "m7i-flex.large", "hpc6a.48xlarge"):
        assert instance_architecture(x86) == "x86_64", x86
    assert kubelet_refuses_label("node-role.kubernetes.io/worker")
    assert kubelet_refuses_label("k8s.io/anything")
    assert not kubelet_refuses_label("node.kubernetes.io/pool")
    assert not kubelet_refuses_label("topology.kubernetes.io/zone")
    assert not kubelet_refuses_label("example.com/team")


# ------------------------------------------------------------------------------------------------ graph


def test_graph_names_types_and_parents(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    component = mocks.named("prod-euw1", COMPONENT)
    counts = {
        VPC: 1,
        IGW: 1,
        SUBNET: 6,
        EIP: 3,
        NAT: 3,
        ROUTE_TABLE: 4,
        ROUTE_ASSOC: 6,
        ROLE: 2,
        ATTACHMENT: 4,
        ROLE_POLICY: 1,
        KEY: 1,
        CLUSTER: 1,
        OIDC: 1,
        ACCESS_ENTRY: 2,
        ACCESS_POLICY: 2,
        NODE_GROUP: 3,
        PROVIDER: 1,
    }
    for typ, count in counts.items():
        assert len(mocks.of_type(typ)) == count, typ
    assert mocks.types() == {COMPONENT, *counts}
    for r in mocks.resources:
        if r.typ != COMPONENT:
            assert r.parent == component.urn, r.name
            assert r.name.startswith("prod-euw1-"), r.name
    assert {r.name for r in mocks.of_type(NODE_GROUP)} == {
        "prod-euw1-nodes-system",
        "prod-euw1-nodes-apps",
        "prod-euw1-nodes-fixed",
    }
    assert cluster.cluster.urn is not None and len(cluster.node_groups) == 3
    assert cluster.vpc is not None


def test_two_clusters_never_collide(mocks: GraphMocks) -> None:
    answer(mocks)
    for name in ("prod-euw1", "prod-euw2"):
        spec = make_spec(name=name)
        EksCluster(spec.name, spec, tags=TAGS)
    settle()
    names = [(r.typ, r.name) for r in mocks.resources]
    assert len(names) == len(set(names))


def test_vpc_subnets_routes_and_nat_per_zone(mocks: GraphMocks) -> None:
    build(mocks)
    vpc = mocks.named("prod-euw1-vpc", VPC).inputs
    assert vpc["cidrBlock"] == "10.0.0.0/16"
    assert vpc["enableDnsSupport"] is True and vpc["enableDnsHostnames"] is True
    plan = plan_subnets("10.0.0.0/16", 3)
    for i, zone in enumerate(ZONE_NAMES):
        public = mocks.named(f"prod-euw1-public-{i}", SUBNET).inputs
        private = mocks.named(f"prod-euw1-private-{i}", SUBNET).inputs
        assert public["cidrBlock"] == plan.public[i] and private["cidrBlock"] == plan.private[i]
        assert public["availabilityZone"] == private["availabilityZone"] == zone
        assert public["tags"]["kubernetes.io/role/elb"] == "1"
        assert private["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert "kubernetes.io/role/internal-elb" not in public["tags"]
        assert "kubernetes.io/role/elb" not in private["tags"]
        for subnet in (public, private):
            assert subnet["tags"]["kubernetes.io/cluster/prod-euw1"] == "shared"
            assert subnet["vpcId"] == "prod-euw1-vpc-id"
            assert not subnet.get("mapPublicIpOnLaunch")
        nat = mocks.named(f"prod-euw1-nat-{i}", NAT)
        assert nat.inputs["subnetId"] == f"prod-euw1-public-{i}-id"
        assert nat.inputs["allocationId"] == f"eipalloc-prod-euw1-nat-ip-{i}"
        assert mocks.named("prod-euw1-igw", IGW).urn in nat.dependencies
        assert mocks.named(f"prod-euw1-nat-ip-{i}", EIP).inputs["domain"] == "vpc"
        # Each zone's private subnet leaves through the NAT gateway in the same zone.
        routes = mocks.named(f"prod-euw1-private-{i}", ROUTE_TABLE).inputs["routes"]
        assert routes == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": f"prod-euw1-nat-{i}-id"}]
        assoc = mocks.named(f"prod-euw1-private-{i}", ROUTE_ASSOC).inputs
        assert assoc == {
            "subnetId": f"prod-euw1-private-{i}-id",
            "routeTableId": f"prod-euw1-private-{i}-id",
            "region": "eu-west-1",
        }
        assert mocks.named(f"prod-euw1-public-{i}", ROUTE_ASSOC).inputs["routeTableId"] == "prod-euw1-public-id"
    public_routes = mocks.named("prod-euw1-public", ROUTE_TABLE).inputs["routes"]
    assert public_routes == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "prod-euw1-igw-id"}]


def test_zone_lookup_excludes_zones_eks_refuses(mocks: GraphMocks) -> None:
    build(mocks)
    [(token, args)] = mocks.call_log
    assert token == ZONES
    assert args["region"] == "eu-west-1"
    assert args["state"] == "available"
    assert args["excludeZoneIds"] == list(EKS_UNSUPPORTED_ZONE_IDS)
    assert args["filters"] == [{"name": "zone-type", "values": ["availability-zone"]}]


def test_custom_vpc_uses_its_cidr_and_zone_count(mocks: GraphMocks) -> None:
    build(mocks, make_spec(vpc={"cidr": "172.20.0.0/18", "availability_zones": 2}))
    assert len(mocks.of_type(SUBNET)) == 4 and len(mocks.of_type(NAT)) == 2
    assert mocks.named("prod-euw1-private-1", SUBNET).inputs["cidrBlock"] == "172.20.16.0/20"
    assert mocks.named("prod-euw1-public-1", SUBNET).inputs["availabilityZone"] == "eu-west-1b"


def test_every_regional_resource_names_the_spec_region(mocks: GraphMocks) -> None:
    build(mocks)
    global_types = {COMPONENT, PROVIDER, ROLE, ATTACHMENT, ROLE_POLICY, OIDC}
    for r in mocks.resources:
        if r.typ not in global_types:
            assert r.inputs.get("region") == "eu-west-1", r.name


def test_existing_subnets_create_no_network(mocks: GraphMocks) -> None:
    subnets = {"private": ["subnet-0a1", "subnet-0b2", "subnet-0c3"], "public": ["subnet-1a1"]}
    build(mocks, make_spec(subnets=subnets))
    assert not {VPC, SUBNET, IGW, EIP, NAT, ROUTE_TABLE, ROUTE_ASSOC} & mocks.types()
    assert mocks.call_log == []
    vpc_config = mocks.named("prod-euw1-eks", CLUSTER).inputs["vpcConfig"]
    assert vpc_config["subnetIds"] == subnets["private"]
    for ng in mocks.of_type(NODE_GROUP):
        assert ng.inputs["subnetIds"] == subnets["private"]


# ------------------------------------------------------------------------------------------ IAM and KMS


def test_roles_trust_the_right_services_with_partition_aware_policies(mocks: GraphMocks) -> None:
    build(mocks)
    cluster_trust = json.loads(mocks.named("prod-euw1-eks-role", ROLE).inputs["assumeRolePolicy"])
    assert cluster_trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    assert "sts:AssumeRole" in cluster_trust["Statement"][0]["Action"]
    node_trust = json.loads(mocks.named("prod-euw1-node-role", ROLE).inputs["assumeRolePolicy"])
    assert node_trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached: dict[str, set[str]] = {r.inputs["role"]: set() for r in mocks.of_type(ATTACHMENT)}
    for r in mocks.of_type(ATTACHMENT):
        attached[r.inputs["role"]].add(r.inputs["policyArn"])
    assert attached == {
        "prod-euw1-eks-role": {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"},
        "prod-euw1-node-role": {
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        },
    }


def test_china_region_uses_the_aws_cn_partition(mocks: GraphMocks) -> None:
    admin = "arn:aws-cn:iam::111122223333:role/PlatformAdmin"
    build(mocks, make_spec(region="cn-northwest-1", admins=[admin]))
    arns = {r.inputs["policyArn"] for r in mocks.of_type(ATTACHMENT)}
    assert all(a.startswith("arn:aws-cn:iam::aws:policy/") for a in arns)
    association = mocks.named("prod-euw1-admin-0-policy", ACCESS_POLICY).inputs
    assert association["policyArn"] == "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def test_created_kms_key_rotates_and_encrypts_secrets(mocks: GraphMocks) -> None:
    build(mocks)
    key = mocks.named("prod-euw1-secrets", KEY).inputs
    assert key["enableKeyRotation"] is True
    assert key["deletionWindowInDays"] == 30
    config = mocks.named("prod-euw1-eks", CLUSTER).inputs["encryptionConfig"]
    assert config == {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]}
    policy = json.loads(mocks.named("prod-euw1-eks-role-kms", ROLE_POLICY).inputs["policy"])
    assert policy["Statement"][0]["Resource"] == KEY_ARN
    assert {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"} <= set(policy["Statement"][0]["Action"])


def test_given_kms_key_is_used_not_created(mocks: GraphMocks) -> None:
    other = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-00aa11bb22cc33dd44ee55ff66778899"
    build(mocks, make_spec(kms_key_arn=other))
    assert not mocks.of_type(KEY)
    assert mocks.named("prod-euw1-eks", CLUSTER).inputs["encryptionConfig"]["provider"] == {"keyArn": other}
    policy = json.loads(mocks.named("prod-euw1-eks-role-kms", ROLE_POLICY).inputs["policy"])
    assert policy["Statement"][0]["Resource"] == other


def test_no_secrets_encryption_means_no_key_and_no_config(mocks: GraphMocks) -> None:
    build(mocks, make_spec(secrets_encryption=False))
    assert not mocks.of_type(KEY) and not mocks.of_type(ROLE_POLICY)
    assert "encryptionConfig" not in mocks.named("prod-euw1-eks", CLUSTER).inputs


# ------------------------------------------------------------------------------------------- the cluster


def test_cluster_arguments(mocks: GraphMocks) -> None:
    build(mocks, make_spec(public_access_cidrs=["203.0.113.0/24"], log_types=["api", "audit", "scheduler"]))
    cluster = mocks.named("prod-euw1-eks", CLUSTER)
    inputs = cluster.inputs
    assert inputs["name"] == "prod-euw1"
    assert inputs["version"] == "1.31"
    assert inputs["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/prod-euw1-eks-role-abc1234"
    assert inputs["vpcConfig"] == {
        "subnetIds": [f"prod-euw1-private-{i}-id" for i in range(3)],
        "endpointPrivateAccess": True,
        "endpointPublicAccess": True,
        "publicAccessCidrs": ["203.0.113.0/24"],
    }
    assert inputs["enabledClusterLogTypes"] == ["api", "audit", "scheduler"]
    assert inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": True,
    }
    # Permissions exist before the control plane and outlive it.
    grants = {mocks.named(n).urn for n in ("prod-euw1-eks-role-AmazonEKSClusterPolicy", "prod-euw1-eks-role-kms")}
    assert grants <= set(cluster.dependencies)


def test_private_only_endpoint_sends_no_public_cidrs(mocks: GraphMocks) -> None:
    build(mocks, make_spec(endpoint_public_access=False))
    vpc_config = mocks.named("prod-euw1-eks", CLUSTER).inputs["vpcConfig"]
    assert vpc_config["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc_config


def test_oidc_provider_for_irsa_without_a_thumbprint(mocks: GraphMocks) -> None:
    build(mocks)
    oidc = mocks.named("prod-euw1-oidc", OIDC)
    assert oidc.inputs["url"] == ISSUER
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert "thumbprintLists" not in oidc.inputs
    assert mocks.named("prod-euw1-eks", CLUSTER).urn in oidc.dependencies


def test_admins_get_access_entries_and_the_cluster_admin_policy(mocks: GraphMocks) -> None:
    build(mocks)
    for i, arn in enumerate((ADMIN, BREAKGLASS)):
        entry = mocks.named(f"prod-euw1-admin-{i}", ACCESS_ENTRY)
        assert entry.inputs["principalArn"] == arn
        assert entry.inputs["clusterName"] == "prod-euw1"
        assert entry.inputs["type"] == "STANDARD"
        association = mocks.named(f"prod-euw1-admin-{i}-policy", ACCESS_POLICY)
        assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert association.inputs["principalArn"] == arn
        # The policy can only be associated once the entry exists.
        assert entry.urn in association.dependencies


def test_no_admins_no_access_entries(mocks: GraphMocks) -> None:
    build(mocks, make_spec(admins=[]))
    assert not mocks.of_type(ACCESS_ENTRY) and not mocks.of_type(ACCESS_POLICY)


# ------------------------------------------------------------------------------------------- node groups


def test_node_groups(mocks: GraphMocks) -> None:
    build(mocks, settings_={"node-os": {"ami_type": "BOTTLEROCKET_x86_64"}})
    apps = mocks.named("prod-euw1-nodes-apps", NODE_GROUP)
    inputs = apps.inputs
    assert inputs["clusterName"] == "prod-euw1"
    assert inputs["nodeGroupNamePrefix"] == "apps-"
    assert "nodeGroupName" not in inputs
    assert inputs["nodeRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/prod-euw1-node-role-abc1234"
    assert inputs["subnetIds"] == [f"prod-euw1-private-{i}-id" for i in range(3)]
    assert inputs["version"] == "1.31"
    assert inputs["amiType"] == "BOTTLEROCKET_x86_64"
    assert inputs["instanceTypes"] == ["m6i.xlarge", "m6a.xlarge", "m5.xlarge"]
    assert inputs["capacityType"] == "SPOT"
    assert inputs["diskSize"] == 100
    assert inputs["scalingConfig"] == {"minSize": 0, "maxSize": 10, "desiredSize": 3}
    assert inputs["labels"] == {"workload": "apps", "node.kubernetes.io/pool": "apps", "strata.io/node-pool": "apps"}
    assert inputs["taints"] == [
        {"key": "dedicated", "value": "apps", "effect": "NO_SCHEDULE"},
        {"key": "spot", "effect": "PREFER_NO_SCHEDULE"},
        {"key": "drain", "value": "soon", "effect": "NO_EXECUTE"},
    ]
    assert inputs["nodeRepairConfig"] == {"enabled": True}
    assert apps.ignore_changes == ["scalingConfig.desiredSize"]
    system = mocks.named("prod-euw1-nodes-system", NODE_GROUP)
    assert system.inputs["scalingConfig"] == {"minSize": 2, "maxSize": 4, "desiredSize": 2}
    assert system.inputs["capacityType"] == "ON_DEMAND"
    assert system.inputs["diskSize"] == 50


def test_fixed_size_pool_keeps_its_desired_size(mocks: GraphMocks) -> None:
    build(mocks)
    fixed = mocks.named("prod-euw1-nodes-fixed", NODE_GROUP)
    assert fixed.ignore_changes == []
    assert fixed.inputs["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}


def test_default_ami_type(mocks: GraphMocks) -> None:
    build(mocks)
    assert {r.inputs["amiType"] for r in mocks.of_type(NODE_GROUP)} == {"AL2023_x86_64_STANDARD"}


def test_node_groups_wait_for_their_role_policies_and_nat_egress(mocks: GraphMocks) -> None:
    build(mocks)
    needed = {r.urn for r in mocks.of_type(ATTACHMENT) if r.inputs["role"] == "prod-euw1-node-role"}
    needed |= {mocks.named(f"prod-euw1-private-{i}", ROUTE_ASSOC).urn for i in range(3)}
    needed.add(mocks.named("prod-euw1-eks", CLUSTER).urn)
    for ng in mocks.of_type(NODE_GROUP):
        assert needed <= set(ng.dependencies), ng.name


def test_spot_pool_with_one_instance_type_warns(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, resource=None, **_: warned.append(msg))
    pools = [
        {"name": "system", "system": True},
        {"name": "spot", "capacity_type": "SPOT", "instance_types": ["m6i.large"]},
    ]
    build(mocks, make_spec(node_pools=pools))
    assert len(warned) == 1 and "'spot' is SPOT with a single instance type" in warned[0]
    assert spot_warnings(make_spec().node_pools) == []


# ------------------------------------------------------------------------------------ kubeconfig & contract


def test_kubeconfig_is_secret_and_runs_aws_eks_get_token(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    assert is_secret(cluster.kubeconfig)
    assert is_secret(cluster.contract.kubeconfig)
    assert is_secret(cluster.contract.outputs()["kubeconfig"])
    doc = yaml.safe_load(resolve(cluster.kubeconfig))
    assert doc["clusters"] == [{"name": "prod-euw1", "cluster": {"server": ENDPOINT, "certificate-authority-data": CA}}]
    assert doc["current-context"] == "prod-euw1"
    user = doc["users"][0]["user"]
    assert set(user) == {"exec"}
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "prod-euw1",
        "--region",
        "eu-west-1",
        "--output",
        "json",
    ]
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"


def test_provider_is_stable_and_waits_for_every_node_group(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    provider = mocks.named("prod-euw1-k8s", PROVIDER)
    assert provider.inputs["clusterIdentifier"] == "strata/eks/prod-euw1"
    assert CA not in provider.inputs["clusterIdentifier"] and ENDPOINT not in provider.inputs["clusterIdentifier"]
    assert {ng.urn for ng in mocks.of_type(NODE_GROUP)} <= set(provider.dependencies)
    assert cluster.contract.provider is cluster.provider


def test_contract(mocks: GraphMocks) -> None:
    cluster = build(mocks)
    contract = cluster.contract
    assert contract.name == "prod-euw1"
    assert contract.target is Target.EKS
    assert contract.facts.region == "eu-west-1"
    assert contract.facts.nodes == 4
    assert resolve(contract.kubernetes_version) == "1.31"
    assert resolve(contract.endpoint) == ENDPOINT
    assert not is_secret(contract.endpoint)
    assert contract.oidc_issuer is not None and resolve(contract.oidc_issuer) == ISSUER
    wi = contract.workload_identity
    assert wi is not None and wi.kind == "aws-irsa"
    assert wi.issuer is not None and wi.provider_arn is not None  # what IRSA trust policies are built from
    assert resolve(wi.issuer) == ISSUER.removeprefix("https://")
    assert resolve(wi.provider_arn) == OIDC_ARN
    assert contract.storage_class is None
    assert contract.load_balancer is True
    assert isinstance(contract.handles, EksHandles)
    assert resolve(contract.handles.cluster_name) == "prod-euw1"
    assert resolve(contract.handles.region) == "eu-west-1"
    assert list(contract.ready) == cluster.node_groups and len(cluster.node_groups) == 3


def test_build_cluster_reaches_the_component(mocks: GraphMocks) -> None:
    answer(mocks)
    cluster = build_cluster(make_spec(), {"node-os": {"ami_type": "AL2023_x86_64_STANDARD"}}, protect=True, tags=TAGS)
    settle()
    assert isinstance(cluster, EksCluster)
    assert mocks.named("prod-euw1-eks", CLUSTER).protect is True


# --------------------------------------------------------------------------------------- protect and tags

PROTECTED = {
    ("prod-euw1-eks", CLUSTER),
    ("prod-euw1-vpc", VPC),
    ("prod-euw1-secrets", KEY),
    ("prod-euw1-eks-role", ROLE),
    ("prod-euw1-node-role", ROLE),
    # Node groups stay replaceable (create-before-delete under a new prefix-generated name): never protected.
    *((f"prod-euw1-{kind}-{i}", SUBNET) for kind in ("public", "private") for i in range(3)),
    *((f"prod-euw1-nat-ip-{i}", EIP) for i in range(3)),
}


def test_protect_in_production(mocks: GraphMocks) -> None:
    build(mocks, protect=True)
    assert {(r.name, r.typ) for r in mocks.resources if r.protect} == PROTECTED
    assert mocks.named("prod-euw1-eks", CLUSTER).inputs["deletionProtection"] is True


def test_no_protect_otherwise(mocks: GraphMocks) -> None:
    build(mocks, protect=False)
    assert not any(r.protect for r in mocks.resources)
    assert mocks.named("prod-euw1-eks", CLUSTER).inputs["deletionProtection"] is False


def test_tags_and_labels_on_every_taggable_resource(mocks: GraphMocks) -> None:
    build(mocks)
    tagged = [r for r in mocks.resources if r.typ in TAGGABLE]
    assert {r.typ for r in tagged} == TAGGABLE
    for r in tagged:
        tags = r.inputs["tags"]
        assert {k: tags[k] for k in EXPECTED_TAGS} == EXPECTED_TAGS, r.name
    assert mocks.named("prod-euw1-vpc", VPC).inputs["tags"]["Name"] == "prod-euw1-vpc"
    assert mocks.named("prod-euw1-eks", CLUSTER).inputs["tags"] == EXPECTED_TAGS
    for r in mocks.resources:
        if r.typ not in TAGGABLE:
            assert "tags" not in r.inputs, r.name


# ------------------------------------------------------------------------------------------------- errors

SYSTEM = {"name": "system", "system": True}


def pools(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"node_pools": [SYSTEM, *extra]}


@pytest.mark.parametrize(
    ("spec_overrides", "settings_", "message"),
    [
        ({}, {"node-os": {"image": "x"}}, r"^settings\.node-os\.image: unknown field"),
        ({}, {"network": {}}, r"^settings\.network: unknown field"),
        ({}, {"node-os": {"ami_type": "al2023"}}, r"^settings\.node-os\.ami_type: 'al2023' is not an EKS AMI type"),
        ({}, {"node-os": {"ami_type": "CUSTOM"}}, r"^settings\.node-os\.ami_type: CUSTOM needs a launch template"),
        (
            {},
            {"node-os": {"ami_type": "WINDOWS_CORE_2022_x86_64"}},
            r"^settings\.node-os\.ami_type: WINDOWS_CORE_2022_x86_64 would leave the cluster without Linux nodes",
        ),
        ({}, {"node-os": {"ami_type": "AL2023_NEW"}}, r"^settings\.node-os\.ami_type: 'AL2023_NEW' names no archit"),
        (
            {"kubernetes_version": "1.33"},
            {"node-os": {"ami_type": "AL2_x86_64"}},
            r"^settings\.node-os\.ami_type: EKS publishes no AL2 AMIs for Kubernetes 1\.33",
        ),
        ({"name": "a" * 47}, {}, r"^name: 'a+' is longer than 46 characters"),
        ({"vpc": {"cidr": "fd00::/16"}}, {}, r"^vpc\.cidr: fd00::/16 is not IPv4"),
        ({"vpc": {"cidr": "10.0.0.0/12"}}, {}, r"^vpc\.cidr: 10\.0\.0\.0/12 is larger than /16"),
        (
            {"endpoint_private_access": False, "public_access_cidrs": ["203.0.113.0/24"]},
            {},
            r"^endpoint_private_access: without it, nodes reach the API server from the NAT gateways' addresses",
        ),
        (
            {"subnets": {"private": ["subnet-1", "subnet-2", "subnet-1"]}},
            {},
            r"^subnets\.private\[2\]: subnet-1 is already listed as subnets\.private\[0\]",
        ),
        (
            {"subnets": {"private": ["subnet-1", "subnet-2"], "public": ["subnet-2"]}},
            {},
            r"^subnets\.public\[0\]: subnet-2 is already listed as subnets\.private\[1\]",
        ),
        ({"kms_key_arn": "1234abcd-12ab"}, {}, r"^kms_key_arn: '1234abcd-12ab' is not a KMS key ARN"),
        (
            {"kms_key_arn": f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/eks"},
            {},
            r"^kms_key_arn: give the key ARN, not an alias",
        ),
        (
            {"kms_key_arn": KEY_ARN.replace("eu-west-1", "us-east-1")},
            {},
            r"^kms_key_arn: the key is in us-east-1 but the cluster is in eu-west-1",
        ),
        (
            {"kms_key_arn": KEY_ARN.replace("arn:aws:", "arn:aws-us-gov:")},
            {},
            r"^kms_key_arn: the key is in partition aws-us-gov, the cluster in aws",
        ),
        (
            {"admins": [ADMIN, f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/alice"]},
            {},
            r"^admins\[1\]: .* is an STS assumed-role session",
        ),
        ({"admins": ["PlatformAdmin"]}, {}, r"^admins\[0\]: 'PlatformAdmin' is not an IAM role or user ARN"),
        (
            {"admins": [ADMIN.replace("arn:aws:", "arn:aws-cn:")]},
            {},
            r"^admins\[0\]: .* is in partition aws-cn, the cluster in aws",
        ),
        ({"admins": [ADMIN, ADMIN]}, {}, r"^admins\[1\]: .* is listed twice"),
        (pools({"name": "p" * 37}), {}, r"^node_pools\[1\]\.name: 'p+' is longer than 36 characters"),
        (
            pools({"name": "gcp", "instance_types": ["e2-standard-4"]}),
            {},
            r"^node_pools\[1\]\.instance_types\[0\]: 'e2-standard-4' is not an EC2 instance type",
        ),
        (
            pools({"name": "apps", "instance_types": ["m6i.large", "m6i.large"]}),
            {},
            r"^node_pools\[1\]\.instance_types\[1\]: 'm6i\.large' is listed twice",
        ),
        (
            pools({"name": "arm", "instance_types": ["m6i.large", "m7g.large"]}),
            {},
            r"^node_pools\[1\]\.instance_types\[1\]: m7g\.large is arm64 but settings\.node-os\.ami_type is an x86_64",
        ),
        (
            {"node_pools": [{"name": "system", "system": True, "instance_types": ["m6i.large"]}]},
            {"node-os": {"ami_type": "AL2023_ARM_64_STANDARD"}},
            r"^node_pools\[0\]\.instance_types\[0\]: m6i\.large is x86_64 but .* is an arm64 AMI",
        ),
        (
            {"node_pools": [{"name": "system", "system": True, "min_size": 0}]},
            {},
            r"^node_pools\[0\]\.min_size: a system pool needs at least one node",
        ),
        (
            pools({"name": "apps", "labels": {"node-role.kubernetes.io/worker": ""}}),
            {},
            r"^node_pools\[1\]\.labels: 'node-role\.kubernetes\.io/worker' is in the kubernetes\.io/k8s\.io namesp",
        ),
        (
            pools({"name": "apps", "taints": [{"key": f"k{i}", "effect": "NoSchedule"} for i in range(51)]}),
            {},
            r"^node_pools\[1\]\.taints: EKS accepts at most 50 taints, got 51",
        ),
        (
            {"node_pools": [{**SYSTEM, "taints": [{"key": "dedicated", "value": "system", "effect": "NoSchedule"}]}]},
            {},
            r"^node_pools\[0\]\.taints\[0\]: a system pool tainted dedicated:NoSchedule keeps CoreDNS",
        ),
        (
            {"node_pools": [{**SYSTEM, "taints": [{"key": "maintenance", "effect": "NoExecute"}]}]},
            {},
            r"^node_pools\[0\]\.taints\[0\]: a system pool tainted maintenance:NoExecute",
        ),
        ({"labels": {"aws:team": "x"}}, {}, r"^labels: tag key 'aws:team' uses the 'aws:' prefix"),
        ({"labels": {"k" * 129: "x"}}, {}, r"^labels: tag key 'k+' must be 1-128 characters"),
        ({"labels": {"long": "v" * 257}}, {}, r"^labels: the value of tag 'long' is longer than 256 characters"),
        (
            {"labels": {f"t{i}": "x" for i in range(47)}},
            {},
            r"^labels: 48 tags plus the 3 the component adds exceed AWS's 50 per resource",
        ),
    ],
)
def test_invalid_input_fails_before_any_resource(
    mocks: GraphMocks, spec_overrides: dict[str, Any], settings_: dict[str, Any], message: str
) -> None:
    answer(mocks)
    spec = make_spec(**spec_overrides)
    with pytest.raises(ValueError, match=message):
        EksCluster(spec.name, spec, settings=settings_, tags=TAGS)
    settle()
    assert mocks.resources == []
    assert mocks.call_log == []


def test_label_and_taint_syntax_is_refused_by_the_spec() -> None:
    """Kubernetes' own syntax rules belong to the node pool model (tests/unit/test_node_pool_spec.py)."""
    bad = {"name": "apps", "labels": {"tier": "front end"}, "taints": [{"key": "Bad!/x", "effect": "NoSchedule"}]}
    with pytest.raises(ValidationError) as info:
        make_spec(**pools(bad))
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("node_pools", 1, "labels"), "Value error, value 'front end' of 'tier' is not a valid label value"),
        (("node_pools", 1, "taints", 0, "key"), "Value error, 'Bad!/x': prefix is not a DNS subdomain"),
    ]


def test_tag_errors_from_environment_tags(mocks: GraphMocks) -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match=r"^tags: tag key 'AWS:owner' uses the 'aws:' prefix"):
        EksCluster(spec.name, spec, tags={"AWS:owner": "ops"})
    settle()
    assert mocks.resources == []


@pytest.mark.parametrize(
    ("spec_overrides", "settings_"),
    [
        # CoreDNS and the EKS add-ons tolerate CriticalAddonsOnly; PreferNoSchedule never keeps anything off.
        (
            {
                "node_pools": [
                    {
                        **SYSTEM,
                        "taints": [
                            {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"},
                            {"key": "soft", "effect": "PreferNoSchedule"},
                        ],
                    }
                ]
            },
            {},
        ),
        (
            {"node_pools": [{**SYSTEM, "instance_types": ["m7g.large", "c7g.large"]}]},
            {"node-os": {"ami_type": "AL2023_ARM_64_STANDARD"}},
        ),
        ({"kubernetes_version": "1.32"}, {"node-os": {"ami_type": "AL2_x86_64"}}),
        ({"endpoint_private_access": False}, {}),
        (
            {
                "subnets": {"private": ["subnet-1", "subnet-2"]},
                "endpoint_private_access": False,
                "public_access_cidrs": ["203.0.113.0/24"],
            },
            {},
        ),
        ({"name": "a" * 46}, {}),
        (pools({"name": "p" * 36}), {}),
    ],
)
def test_valid_edge_cases_pass(spec_overrides: dict[str, Any], settings_: dict[str, Any]) -> None:
    validate(make_spec(**spec_overrides), settings_)


def test_validate_hook_runs_without_an_engine() -> None:
    """The environment program calls ``EksCluster.validate`` before registering anything."""
    parsed = EksCluster.validate(make_spec(), {"node-os": {"ami_type": "BOTTLEROCKET_x86_64"}})
    assert parsed.node_os.ami_type == "BOTTLEROCKET_x86_64"
    with pytest.raises(ValueError, match=r"^node_pools\[1\]\.instance_types\[0\]"):
        EksCluster.validate(make_spec(**pools({"name": "x", "instance_types": ["huge"]})), {})


def test_validate_settings_defaults() -> None:
    assert validate_settings({}).node_os.ami_type == "AL2023_x86_64_STANDARD"
    assert validate_settings(None).kubernetes == {}


def test_documented_example_is_a_valid_environment_entry(root: Any) -> None:
    text = (root / "docs" / "targets" / "eks.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    [entry] = yaml.safe_load(block)["config"]["strata:clusters"]
    spec = EksClusterSpec.model_validate(entry)
    assert spec.target is Target.EKS
    validate(spec, {}, {"owner": "platform"})
