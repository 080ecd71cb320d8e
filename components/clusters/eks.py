"""An Amazon EKS cluster behind the strata cluster contract.

What it creates, and why each choice was made:

- unless existing subnets are given, a VPC laid out the way the EKS user guide recommends: public subnets for
  internet-facing load balancers and NAT, private subnets for nodes and the control plane's network
  interfaces, one NAT gateway *per zone* (a zone outage never takes the other zones' egress with it, and no
  traffic pays for crossing zones), and the subnet tags the AWS Load Balancer Controller and the legacy cloud
  provider use to discover where load balancers go;
- a cluster role and a node role with exactly the AWS-managed policies EKS documents, with partition-aware
  ARNs so the same code works in the commercial, China and GovCloud partitions;
- a customer-managed KMS key with yearly rotation for envelope encryption of Secrets (or the key given), so
  access to etcd backups alone never reveals a Secret and every decryption is in CloudTrail;
- the cluster with access entries (``authentication_mode=API``): cluster access is IAM-managed through the EKS
  API, never through a hand-edited ``aws-auth`` ConfigMap. The identity that creates the cluster is admin
  (the packs are deployed with it); everyone else in ``admins`` gets ``AmazonEKSClusterAdminPolicy``;
- an IAM OIDC provider for IRSA. No thumbprint is given: IAM fetches it itself when none is supplied, and for
  the EKS issuer (certificates from a public CA) IAM validates against its own trusted root CAs anyway. The
  ``tls`` provider is therefore not needed;
- one managed node group per pool, in the private subnets, named from a prefix so a replacement comes up
  before the old group drains; the cluster autoscaler owns the desired size once a pool can scale;
- a kubeconfig that runs ``aws eks get-token``: no token is stored, and the text never changes between runs.

Every regional resource and the zone lookup pass ``region=spec.region`` (pulumi-aws 7 supports per-resource
regions), so the cluster lands where the spec says whatever region the ambient AWS provider defaults to.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pulumi
from pulumi_aws import GetAvailabilityZonesFilterArgs, ec2, eks, get_availability_zones_output, iam, kms

from components.clusters.contract import (
    POOL_LABEL,
    ClusterComponent,
    ClusterContract,
    WorkloadIdentity,
    exec_kubeconfig,
    make_provider,
)
from components.clusters.spec import EksClusterSpec, EksNodePool, EksSettings, EksVpc, read_settings
from components.lifecycle import fixed_name
from packs.model import Target

AWS_CLI = "aws"
AWS_CLI_INSTALL_HINT = (
    "The AWS CLI v2 is required to reach EKS clusters: "
    "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
)
#: Zone IDs in which EKS refuses to place control-plane network interfaces (EKS user guide, subnet requirements).
#: Zone IDs, unlike zone names, mean the same physical zone in every account.
EKS_UNSUPPORTED_ZONE_IDS: tuple[str, ...] = ("use1-az3", "usw1-az2", "cac1-az3")
#: The audience IRSA tokens carry; the same value the pack identities put in their trust policies.
IRSA_AUDIENCE = "sts.amazonaws.com"
CLUSTER_POLICIES: tuple[str, ...] = ("AmazonEKSClusterPolicy",)
NODE_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    # The self-managed VPC CNI that EKS bootstraps runs with the node's credentials until a pack moves it to IRSA.
    "AmazonEKS_CNI_Policy",
)
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
#: Kubernetes taint effects as the EKS API spells them.
TAINT_EFFECTS: dict[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
#: The one taint a system pool may carry that keeps pods off: EKS's own add-ons (CoreDNS, ...) tolerate it.
SYSTEM_POOL_TAINT = "CriticalAddonsOnly"
#: Pulumi auto-names IAM roles ``<logical name>-<7 hex>``; IAM role names are at most 64 characters.
IAM_ROLE_NAME_MAX = 64
AUTONAME_SUFFIX = 8
ROLE_SUFFIXES = ("-eks-role", "-node-role")
NAME_MAX = IAM_ROLE_NAME_MAX - AUTONAME_SUFFIX - max(len(s) for s in ROLE_SUFFIXES)
#: Node groups are named ``<pool>-<26 characters>`` from a prefix; node group names are at most 63 characters.
NODE_GROUP_PREFIX_MAX = 63 - 26
#: AWS accepts at most 50 tags per resource; the component adds up to three of its own (Name and two on subnets).
AWS_TAGS_MAX = 50
OWN_TAGS = 3
#: EKS managed node groups accept at most 50 taints.
TAINTS_MAX = 50
#: AL2 AMIs are published up to Kubernetes 1.32; 1.33 and later need AL2023 or Bottlerocket.
AL2_LAST_MINOR = 32
#: The smallest and largest VPC CIDR blocks AWS accepts are /28 and /16; EKS needs at least a /20 here.
VPC_PREFIX_MIN = 16
SUBNET_PREFIX_MAX = 28

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]\.[a-z0-9]+(?:-[a-z0-9]+)*$")
#: Graviton families have a ``g`` right after the generation digit (m7g, c7gn, r8gd, t4g, g5g, im4gn, hpc7g).
_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g[a-z0-9]*$")
_ADMIN_ARN = re.compile(r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::\d{12}:(?:role|user)/[\w+=,.@/-]+$")
_ASSUMED_ROLE_ARN = re.compile(r"^arn:(?:aws|aws-cn|aws-us-gov):sts::\d{12}:assumed-role/")
_KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):kms:(?P<region>[a-z0-9-]+):\d{12}:(?P<kind>key|alias)/\S+$"
)
_AMI_TYPE = re.compile(r"^[A-Z0-9]+(?:_[A-Za-z0-9]+)*$")
#: Labels a kubelet may set on its own Node in the kubernetes.io / k8s.io namespaces (k8s.io/kubelet
#: IsKubeletLabel); any other label there makes the kubelet refuse to start, so the node never joins.
_KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
    }
)
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


# ----------------------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class SubnetPlan:
    """Subnet CIDRs, one public and one private per zone, index i in zone i."""

    public: tuple[str, ...]
    private: tuple[str, ...]


def plan_subnets(vpc_cidr: str, zones: int) -> SubnetPlan:
    """Split an IPv4 VPC into per-zone private and public subnets that never overlap.

    The lower half of the VPC holds the private subnets: nodes live there and, with the VPC CNI, every pod
    takes a VPC address, so they get as much room as possible (the half divided by the zone count rounded up
    to a power of two). The public subnets only hold NAT gateways and load balancers, so each is a quarter of
    a private one, taken from the start of the upper half; the rest of the upper half stays free for subnets
    added later (dedicated control-plane or database subnets) without renumbering anything.
    """
    network = ipaddress.ip_network(vpc_cidr, strict=True)
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{vpc_cidr} is not an IPv4 network; EKS VPCs here are IPv4")
    if zones < 1:
        raise ValueError(f"zones must be at least 1, got {zones}")
    slot_bits = (zones - 1).bit_length()
    private_half, public_half = network.subnets(prefixlen_diff=1)
    private_prefix = private_half.prefixlen + slot_bits
    public_prefix = private_prefix + 2
    if public_prefix > SUBNET_PREFIX_MAX:
        raise ValueError(
            f"{vpc_cidr} is too small for {zones} zones: public subnets would be /{public_prefix} "
            f"(AWS subnets are at most /{SUBNET_PREFIX_MAX})"
        )
    private = tuple(str(s) for s in islice(private_half.subnets(new_prefix=private_prefix), zones))
    public = tuple(str(s) for s in islice(public_half.subnets(new_prefix=public_prefix), zones))
    return SubnetPlan(public=public, private=private)


def partition_for(region: str) -> str:
    """The AWS partition of a region, for managed-policy ARNs; it follows from the region name alone."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(partition: str, policy: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{policy}"


def access_policy_arn(partition: str, policy: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{policy}"


def pick_zones(names: Sequence[str] | None, count: int, region: str) -> list[str]:
    """The first ``count`` usable zones of the region, in the stable order AWS lists them."""
    usable = list(names or [])
    if len(usable) < count:
        raise ValueError(
            f"vpc.availability_zones: {count} zones requested but {region} has {len(usable)} usable for EKS "
            f"({', '.join(usable) or 'none'})"
        )
    return usable[:count]


def ami_architecture(ami_type: str) -> str | None:
    """``arm64`` or ``x86_64`` for an EKS AMI type, None when the type names no architecture."""
    if "ARM_64" in ami_type:
        return "arm64"
    if "x86_64" in ami_type:
        return "x86_64"
    return None


def instance_architecture(instance_type: str) -> str:
    """``arm64`` for Graviton instance families, otherwise ``x86_64``."""
    family = instance_type.split(".", 1)[0]
    return "arm64" if family == "a1" or _GRAVITON_FAMILY.match(family) else "x86_64"


def trust_policy(service: str, actions: Sequence[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}],
        },
        sort_keys=True,
    )


def kms_usage_policy(key_arn: str) -> str:
    """What the control plane needs on the Secrets key, granted on the cluster role itself."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                    "Resource": key_arn,
                }
            ],
        },
        sort_keys=True,
    )


def eks_kubeconfig(name: str, cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    return exec_kubeconfig(
        name,
        endpoint,
        ca_data,
        AWS_CLI,
        ("eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"),
        install_hint=AWS_CLI_INSTALL_HINT,
    )


# ----------------------------------------------------------------------------------------- validation


def validate_settings(settings: Mapping[str, Mapping[str, Any]] | None) -> EksSettings:
    """The profile's cluster settings as :class:`EksSettings`; errors name the settings path."""
    return read_settings(EksSettings, settings)


def _check_ami_type(spec: EksClusterSpec, ami_type: str) -> None:
    where = "settings.node-os.ami_type"
    if not _AMI_TYPE.match(ami_type):
        raise ValueError(f"{where}: {ami_type!r} is not an EKS AMI type such as AL2023_x86_64_STANDARD")
    if ami_type == "CUSTOM":
        raise ValueError(f"{where}: CUSTOM needs a launch template with an AMI, which this component does not manage")
    if ami_type.startswith("WINDOWS_"):
        raise ValueError(
            f"{where}: {ami_type} would leave the cluster without Linux nodes, and CoreDNS and the packs only run "
            "on Linux"
        )
    if ami_architecture(ami_type) is None:
        raise ValueError(f"{where}: {ami_type!r} names no architecture (x86_64 or ARM_64)")
    minor = int(spec.kubernetes_version.split(".")[1])
    if ami_type.startswith("AL2_") and minor > AL2_LAST_MINOR:
        raise ValueError(
            f"{where}: EKS publishes no AL2 AMIs for Kubernetes {spec.kubernetes_version}; "
            "use an AL2023_* or BOTTLEROCKET_* type"
        )


def _in_namespace(namespace: str, allowed: str) -> bool:
    return namespace == allowed or namespace.endswith("." + allowed)


def kubelet_refuses_label(key: str) -> bool:
    """True for labels in the kubernetes.io / k8s.io namespaces that a kubelet may not set on itself."""
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if not (_in_namespace(namespace, "kubernetes.io") or _in_namespace(namespace, "k8s.io")):
        return False
    if key in _KUBELET_LABELS:
        return False
    return not any(_in_namespace(namespace, ns) for ns in _KUBELET_LABEL_NAMESPACES)


def _check_pool(i: int, pool: EksNodePool, arch: str) -> None:
    where = f"node_pools[{i}]"
    if len(pool.name) + 1 > NODE_GROUP_PREFIX_MAX:
        raise ValueError(
            f"{where}.name: {pool.name!r} is longer than {NODE_GROUP_PREFIX_MAX - 1} characters; node group names "
            "are the pool name plus a 26-character unique suffix, at most 63 in all"
        )
    seen: set[str] = set()
    for j, instance_type in enumerate(pool.instance_types):
        at = f"{where}.instance_types[{j}]"
        if not _INSTANCE_TYPE.match(instance_type):
            raise ValueError(f"{at}: {instance_type!r} is not an EC2 instance type such as m6i.large")
        if instance_type in seen:
            raise ValueError(f"{at}: {instance_type!r} is listed twice")
        seen.add(instance_type)
        if instance_architecture(instance_type) != arch:
            raise ValueError(
                f"{at}: {instance_type} is {instance_architecture(instance_type)} but settings.node-os.ami_type "
                f"is an {arch} AMI; the node group would never launch"
            )
    if pool.system and pool.min_size < 1:
        raise ValueError(
            f"{where}.min_size: a system pool needs at least one node (CoreDNS and the cluster autoscaler run "
            f"there), got {pool.min_size}"
        )
    for key in pool.labels:
        if kubelet_refuses_label(key):
            raise ValueError(
                f"{where}.labels: {key!r} is in the kubernetes.io/k8s.io namespace, which the kubelet refuses "
                "to set on its node (the node would never join); use your own prefix or node.kubernetes.io/"
            )
    if len(pool.taints) > TAINTS_MAX:
        raise ValueError(f"{where}.taints: EKS accepts at most {TAINTS_MAX} taints, got {len(pool.taints)}")
    for j, taint in enumerate(pool.taints):
        at = f"{where}.taints[{j}]"
        if pool.system and taint.effect != "PreferNoSchedule" and taint.key != SYSTEM_POOL_TAINT:
            raise ValueError(
                f"{at}: a system pool tainted {taint.key}:{taint.effect} keeps CoreDNS and the packs' add-ons "
                f"off it; only {SYSTEM_POOL_TAINT} is tolerated by the EKS add-ons"
            )


def _check_tags(tags: Mapping[str, str], labels: Mapping[str, str]) -> None:
    for field, values in (("tags", tags), ("labels", labels)):
        for key, value in values.items():
            if key.lower().startswith("aws:"):
                raise ValueError(f"{field}: tag key {key!r} uses the 'aws:' prefix AWS reserves for itself")
            if not 1 <= len(key) <= 128:
                raise ValueError(f"{field}: tag key {key!r} must be 1-128 characters")
            if len(value) > 256:
                raise ValueError(f"{field}: the value of tag {key!r} is longer than 256 characters")
    total = len({**tags, **labels})
    if total + OWN_TAGS > AWS_TAGS_MAX:
        raise ValueError(
            f"labels: {total} tags plus the {OWN_TAGS} the component adds exceed AWS's {AWS_TAGS_MAX} per resource"
        )


def _check_network(spec: EksClusterSpec) -> None:
    if spec.subnets is None:
        vpc = spec.vpc or EksVpc()
        network = ipaddress.ip_network(vpc.cidr)
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError(f"vpc.cidr: {vpc.cidr} is not IPv4; the VPC's primary CIDR block must be IPv4")
        if network.prefixlen < VPC_PREFIX_MIN:
            raise ValueError(f"vpc.cidr: {vpc.cidr} is larger than /{VPC_PREFIX_MIN}, the largest VPC AWS creates")
        restricted = set(spec.public_access_cidrs) != {"0.0.0.0/0"}
        if spec.endpoint_public_access and not spec.endpoint_private_access and restricted:
            raise ValueError(
                "endpoint_private_access: without it, nodes reach the API server from the NAT gateways' addresses, "
                "which this component creates and so cannot be in public_access_cidrs; the nodes would never "
                "join. Enable endpoint_private_access"
            )
        return
    seen: dict[str, str] = {}
    for field in ("private", "public"):
        for i, subnet in enumerate(getattr(spec.subnets, field)):
            where = f"subnets.{field}[{i}]"
            if subnet in seen:
                raise ValueError(f"{where}: {subnet} is already listed as {seen[subnet]}")
            seen[subnet] = where


def _check_kms(spec: EksClusterSpec, partition: str) -> None:
    if spec.kms_key_arn is None:
        return
    match = _KMS_KEY_ARN.match(spec.kms_key_arn)
    if match is None:
        raise ValueError(f"kms_key_arn: {spec.kms_key_arn!r} is not a KMS key ARN (arn:aws:kms:<region>:<id>:key/...)")
    if match["kind"] == "alias":
        raise ValueError(
            "kms_key_arn: give the key ARN, not an alias; the cluster role's permission is granted on the key ARN"
        )
    if match["region"] != spec.region:
        raise ValueError(
            f"kms_key_arn: the key is in {match['region']} but the cluster is in {spec.region}; EKS needs a key "
            "in the cluster's region"
        )
    if match["partition"] != partition:
        raise ValueError(f"kms_key_arn: the key is in partition {match['partition']}, the cluster in {partition}")


def _check_admins(spec: EksClusterSpec, partition: str) -> None:
    seen: set[str] = set()
    for i, arn in enumerate(spec.admins):
        where = f"admins[{i}]"
        if _ASSUMED_ROLE_ARN.match(arn):
            raise ValueError(
                f"{where}: {arn!r} is an STS assumed-role session; access entries take the IAM role ARN "
                "(arn:<partition>:iam::<account>:role/<name>)"
            )
        match = _ADMIN_ARN.match(arn)
        if match is None:
            raise ValueError(f"{where}: {arn!r} is not an IAM role or user ARN")
        if match["partition"] != partition:
            raise ValueError(f"{where}: {arn} is in partition {match['partition']}, the cluster in {partition}")
        if arn in seen:
            raise ValueError(f"{where}: {arn} is listed twice")
        seen.add(arn)


def validate(
    spec: EksClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None,
    tags: Mapping[str, str] | None = None,
) -> EksSettings:
    """Every EKS-specific rule the spec model cannot know, checked before a single resource exists.

    Each of these would otherwise fail only after the VPC, the IAM roles and a ten-minute control plane had
    been created, leaving a half-built environment behind.
    """
    parsed = validate_settings(settings)
    ami_type = parsed.node_os.ami_type
    _check_ami_type(spec, ami_type)
    if len(spec.name) > NAME_MAX:
        raise ValueError(
            f"name: {spec.name!r} is longer than {NAME_MAX} characters; the IAM role names derived from it would "
            f"exceed IAM's {IAM_ROLE_NAME_MAX}"
        )
    partition = partition_for(spec.region)
    _check_tags(dict(tags or {}), spec.labels)
    _check_network(spec)
    _check_kms(spec, partition)
    _check_admins(spec, partition)
    arch = ami_architecture(ami_type) or "x86_64"
    for i, pool in enumerate(spec.node_pools):
        _check_pool(i, pool, arch)
    return parsed


def spot_warnings(pools: Iterable[EksNodePool]) -> list[str]:
    """Advice, not errors: a spot pool with one instance type works, but is reclaimed all at once."""
    return [
        f"node pool {pool.name!r} is SPOT with a single instance type; list several of the same size so an "
        "interruption in one spot pool does not take every node"
        for pool in pools
        if pool.capacity_type == "SPOT" and len(pool.instance_types) < 2
    ]


# ----------------------------------------------------------------------------------------- the component


@dataclass(frozen=True)
class _Network:
    private_subnet_ids: list[pulumi.Output[str]]
    vpc_id: pulumi.Output[str] | None
    #: What nodes need before they can join: egress through NAT (route table associations) in a new VPC.
    node_prerequisites: list[pulumi.Resource]


class EksCluster(ClusterComponent):
    """An EKS cluster with its VPC, IAM roles, KMS key, OIDC provider, access entries and managed node groups."""

    #: The environment program runs this for every cluster before registering anything, so a bad EKS setting is
    #: reported as a plan error instead of failing half-way through a deployment.
    validate = staticmethod(validate)

    def __init__(
        self,
        name: str,
        spec: EksClusterSpec,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        protect: bool = False,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Checked before even the component registers: a rejected spec leaves nothing behind in the stack.
        parsed = validate(spec, settings, tags)
        super().__init__("strata:clusters:EksCluster", name, None, opts)
        for warning in spot_warnings(spec.node_pools):
            pulumi.log.warn(warning, resource=self)

        self._name = name
        self._spec = spec
        self._tags = {**dict(tags or {}), **spec.labels}
        self._child = pulumi.ResourceOptions(parent=self)
        self._guarded = pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(protect=protect))
        partition = partition_for(spec.region)

        self.vpc: ec2.Vpc | None = None
        network = self._network()

        # ---------------------------------------------------------------- IAM roles
        cluster_role = iam.Role(
            f"{name}-eks-role",
            assume_role_policy=trust_policy("eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"]),
            tags=self._named(f"{name}-eks-role"),
            opts=self._guarded,
        )
        cluster_grants: list[pulumi.Resource] = [
            iam.RolePolicyAttachment(
                f"{name}-eks-role-{policy}",
                role=cluster_role.name,
                policy_arn=managed_policy_arn(partition, policy),
                opts=self._child,
            )
            for policy in CLUSTER_POLICIES
        ]
        node_role = iam.Role(
            f"{name}-node-role",
            assume_role_policy=trust_policy("ec2.amazonaws.com", ["sts:AssumeRole"]),
            tags=self._named(f"{name}-node-role"),
            opts=self._guarded,
        )
        node_grants: list[pulumi.Resource] = [
            iam.RolePolicyAttachment(
                f"{name}-node-role-{policy}",
                role=node_role.name,
                policy_arn=managed_policy_arn(partition, policy),
                opts=self._child,
            )
            for policy in NODE_POLICIES
        ]

        # ---------------------------------------------------------------- Secrets encryption
        key_arn: pulumi.Input[str] | None = None
        self.kms_key: kms.Key | None = None
        if spec.secrets_encryption:
            if spec.kms_key_arn is None:
                self.kms_key = kms.Key(
                    f"{name}-secrets",
                    description=f"Envelope encryption of Kubernetes Secrets in EKS cluster {spec.name}",
                    enable_key_rotation=True,
                    # The longest window: a key scheduled for deletion by mistake can still be rescued.
                    deletion_window_in_days=30,
                    region=spec.region,
                    tags=self._named(f"{name}-secrets"),
                    opts=self._guarded,
                )
                key_arn = self.kms_key.arn
            else:
                key_arn = spec.kms_key_arn
            cluster_grants.append(
                iam.RolePolicy(
                    f"{name}-eks-role-kms",
                    role=cluster_role.id,
                    policy=pulumi.Output.from_input(key_arn).apply(kms_usage_policy),
                    opts=self._child,
                )
            )

        # ---------------------------------------------------------------- the cluster
        cluster = eks.Cluster(
            f"{name}-eks",
            name=spec.cloud_name,
            version=spec.kubernetes_version,
            role_arn=cluster_role.arn,
            region=spec.region,
            vpc_config=eks.ClusterVpcConfigArgs(
                subnet_ids=network.private_subnet_ids,
                endpoint_private_access=spec.endpoint_private_access,
                endpoint_public_access=spec.endpoint_public_access,
                public_access_cidrs=list(spec.public_access_cidrs) if spec.endpoint_public_access else None,
            ),
            enabled_cluster_log_types=list(spec.log_types),
            access_config=eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # The identity running the deployment installs the packs, so it must be able to reach the API.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=(
                eks.ClusterEncryptionConfigArgs(
                    provider=eks.ClusterEncryptionConfigProviderArgs(key_arn=key_arn),
                    resources=["secrets"],
                )
                if key_arn is not None
                else None
            ),
            deletion_protection=protect,
            tags=self._tags,
            # The cluster has a fixed name, so a replacement cannot be created beside the old one.
            opts=pulumi.ResourceOptions.merge(
                fixed_name(self._guarded),
                # The permissions must exist before the control plane starts and outlive it on deletion.
                pulumi.ResourceOptions(depends_on=cluster_grants),
            ),
        )

        issuer_url: pulumi.Output[str] = cluster.identities.apply(_issuer)
        oidc_provider = iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=[IRSA_AUDIENCE],
            tags=self._named(f"{name}-oidc"),
            opts=self._child,
        )

        # ---------------------------------------------------------------- access entries for admins
        self.access_entries: list[eks.AccessEntry] = []
        for i, arn in enumerate(spec.admins):
            entry = eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=arn,
                type="STANDARD",
                region=spec.region,
                tags=self._tags,
                # One entry per principal and cluster: the old one must go before its replacement exists.
                opts=fixed_name(self._child),
            )
            eks.AccessPolicyAssociation(
                f"{name}-admin-{i}-policy",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=access_policy_arn(partition, ADMIN_ACCESS_POLICY),
                access_scope=eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                region=spec.region,
                opts=fixed_name(self._child),
            )
            self.access_entries.append(entry)

        # ---------------------------------------------------------------- managed node groups
        node_groups = [
            self._node_group(pool, cluster, node_role, parsed.node_os.ami_type, network, [*node_grants])
            for pool in spec.node_pools
        ]

        # ---------------------------------------------------------------- kubeconfig and contract
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority).apply(
                lambda args: eks_kubeconfig(spec.name, args[0], spec.region, args[1], _ca_data(args[2]))
            )
        )
        provider = make_provider(
            name, Target.EKS, kubeconfig, parent=self, depends_on=node_groups, cloud_name=spec.cloud_name
        )
        issuer_host = issuer_url.apply(lambda url: url.removeprefix("https://"))

        self.cluster = cluster
        self.cluster_role = cluster_role
        self.node_role = node_role
        self.oidc_provider = oidc_provider
        self.node_groups = node_groups
        self.vpc_id = network.vpc_id
        self.private_subnet_ids = network.private_subnet_ids
        self._finish(
            ClusterContract(
                name=spec.name,
                target=Target.EKS,
                facts=spec.facts_for_plan(),
                kubernetes_version=cluster.version,
                endpoint=cluster.endpoint,
                kubeconfig=kubeconfig,
                provider=provider,
                oidc_issuer=issuer_url,
                workload_identity=WorkloadIdentity(kind="aws-irsa", issuer=issuer_host, provider_arn=oidc_provider.arn),
                # The EBS CSI pack installs the driver and its StorageClass; a bare EKS cluster has no usable one.
                storage_class=None,
                load_balancer=True,
                handles={"cluster_name": cluster.name, "region": pulumi.Output.from_input(spec.region)},
                ready=node_groups,
                cloud_name=spec.cloud_name,
            )
        )

    # ------------------------------------------------------------------------------------------ helpers

    def _named(self, resource_name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The common tags plus a ``Name`` (what the AWS console shows) and any resource-specific tags."""
        return {**self._tags, "Name": resource_name, **dict(extra or {})}

    def _network(self) -> _Network:
        spec, name = self._spec, self._name
        if spec.subnets is not None:
            return _Network(
                private_subnet_ids=[pulumi.Output.from_input(s) for s in spec.subnets.private],
                vpc_id=None,
                node_prerequisites=[],
            )

        vpc_spec = spec.vpc or EksVpc()
        plan = plan_subnets(vpc_spec.cidr, vpc_spec.availability_zones)
        zones = get_availability_zones_output(
            state="available",
            exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            # Only real zones: subnets for EKS may not be in Local Zones, Wavelength Zones or Outposts.
            filters=[GetAvailabilityZonesFilterArgs(name="zone-type", values=["availability-zone"])],
            region=spec.region,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        chosen: pulumi.Output[list[str]] = zones.names.apply(
            lambda names: pick_zones(names, vpc_spec.availability_zones, spec.region)
        )
        # The tag names the cluster as EKS knows it: controllers discover their subnets by it.
        cluster_tag = {f"kubernetes.io/cluster/{spec.cloud_name}": "shared"}

        vpc = ec2.Vpc(
            f"{name}-vpc",
            cidr_block=vpc_spec.cidr,
            # Both are required for the private API endpoint and for nodes to resolve it.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            region=spec.region,
            tags=self._named(f"{name}-vpc"),
            opts=self._guarded,
        )
        igw = ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, region=spec.region, tags=self._named(f"{name}-igw"), opts=self._child
        )
        public_routes = ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            region=spec.region,
            tags=self._named(f"{name}-public"),
            opts=self._child,
        )

        private_ids: list[pulumi.Output[str]] = []
        prerequisites: list[pulumi.Resource] = []
        for i in range(vpc_spec.availability_zones):
            zone = chosen.apply(lambda names, i=i: names[i])
            public = ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=plan.public[i],
                availability_zone=zone,
                region=spec.region,
                tags=self._named(f"{name}-public-{i}", {**cluster_tag, "kubernetes.io/role/elb": "1"}),
                opts=self._guarded,
            )
            private = ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                cidr_block=plan.private[i],
                availability_zone=zone,
                region=spec.region,
                tags=self._named(f"{name}-private-{i}", {**cluster_tag, "kubernetes.io/role/internal-elb": "1"}),
                opts=self._guarded,
            )
            ec2.RouteTableAssociation(
                f"{name}-public-{i}",
                subnet_id=public.id,
                route_table_id=public_routes.id,
                region=spec.region,
                opts=self._child,
            )
            after_igw = pulumi.ResourceOptions(depends_on=[igw])
            # The egress address is what partners allow-list; losing it is not undone by re-creating it.
            eip = ec2.Eip(
                f"{name}-nat-ip-{i}",
                domain="vpc",
                region=spec.region,
                tags=self._named(f"{name}-nat-ip-{i}"),
                opts=pulumi.ResourceOptions.merge(self._guarded, after_igw),
            )
            nat = ec2.NatGateway(
                f"{name}-nat-{i}",
                allocation_id=eip.allocation_id,
                subnet_id=public.id,
                region=spec.region,
                tags=self._named(f"{name}-nat-{i}"),
                opts=pulumi.ResourceOptions.merge(self._child, after_igw),
            )
            private_routes = ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                routes=[ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                region=spec.region,
                tags=self._named(f"{name}-private-{i}"),
                opts=self._child,
            )
            prerequisites.append(
                ec2.RouteTableAssociation(
                    f"{name}-private-{i}",
                    subnet_id=private.id,
                    route_table_id=private_routes.id,
                    region=spec.region,
                    opts=self._child,
                )
            )
            private_ids.append(private.id)

        self.vpc = vpc
        return _Network(private_subnet_ids=private_ids, vpc_id=vpc.id, node_prerequisites=prerequisites)

    def _node_group(
        self,
        pool: EksNodePool,
        cluster: eks.Cluster,
        node_role: iam.Role,
        ami_type: str,
        network: _Network,
        node_grants: list[pulumi.Resource],
    ) -> eks.NodeGroup:
        spec, name = self._spec, self._name
        scales = pool.min_size < pool.max_size
        return eks.NodeGroup(
            f"{name}-nodes-{pool.name}",
            cluster_name=cluster.name,
            # A prefix, not a fixed name: changing an immutable field creates the new group before the old drains.
            node_group_name_prefix=f"{pool.name}-",
            node_role_arn=node_role.arn,
            subnet_ids=network.private_subnet_ids,
            # Follows the control plane, so raising kubernetes_version upgrades the nodes after it.
            version=cluster.version,
            ami_type=ami_type,
            instance_types=list(pool.instance_types),
            capacity_type=pool.capacity_type,
            disk_size=pool.disk_size_gib,
            scaling_config=eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.initial_size
            ),
            labels={**pool.labels, POOL_LABEL: pool.name},
            taints=[
                eks.NodeGroupTaintArgs(key=t.key, value=t.value or None, effect=TAINT_EFFECTS[t.effect])
                for t in pool.taints
            ],
            node_repair_config=eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            region=spec.region,
            tags=self._tags,
            # Never protected: a protected group could not be replaced by its successor.
            opts=pulumi.ResourceOptions.merge(
                self._child,
                pulumi.ResourceOptions(
                    # Nodes need their role's policies and NAT egress to join; both must also outlive them.
                    depends_on=[*node_grants, *network.node_prerequisites],
                    # Once the pool can scale, the cluster autoscaler owns the node count.
                    ignore_changes=["scalingConfig.desiredSize"] if scales else None,
                ),
            ),
        )


def _field(value: Any, key: str) -> Any:
    """A field of a nested output, whether the SDK hands it over as its output class or as a plain mapping."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    return getattr(value, key, None)


def _issuer(identities: Sequence[Any] | None) -> str:
    for identity in identities or []:
        for oidc in _field(identity, "oidcs") or []:
            issuer = _field(oidc, "issuer")
            if issuer:
                return str(issuer)
    raise ValueError("the EKS cluster reports no OIDC issuer")


def _ca_data(certificate_authority: Any) -> str:
    data = _field(certificate_authority, "data")
    if not data:
        raise ValueError("the EKS cluster reports no certificate authority data")
    return str(data)


__all__ = [
    "EKS_UNSUPPORTED_ZONE_IDS",
    "EksCluster",
    "SubnetPlan",
    "access_policy_arn",
    "ami_architecture",
    "eks_kubeconfig",
    "instance_architecture",
    "kubelet_refuses_label",
    "managed_policy_arn",
    "partition_for",
    "pick_zones",
    "plan_subnets",
    "spot_warnings",
    "validate",
    "validate_settings",
]
