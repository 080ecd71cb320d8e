"""EKS rules the spec model cannot check alone: settings, names, tags, network, KMS, admins, node pools.

Pure (no Pulumi, no AWS SDK), so the offline plan runs exactly the rules the component runs before it
registers anything. Each of these would otherwise fail only after the VPC, the IAM roles and a ten-minute
control plane had been created, leaving a half-built environment behind.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from components.clusters.spec import EksClusterSpec, EksNodePool, EksSettings, EksVpc, read_settings

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


def partition_for(region: str) -> str:
    """The AWS partition of a region, for managed-policy ARNs; it follows from the region name alone."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


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


# ----------------------------------------------------------------------------------------- rules


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
    # The cluster's own labels are tags too (and win over the environment's): name the one the user must edit.
    own = {k: v for k, v in tags.items() if k not in labels}
    for field, values in (("labels", labels), ("tags", own)):
        for key, value in values.items():
            if key.lower().startswith("aws:"):
                raise ValueError(
                    f"{field}: tag key {key!r} uses the 'aws:' prefix AWS reserves for itself; rename the key"
                )
            if not 1 <= len(key) <= 128:
                raise ValueError(f"{field}: tag key {key!r} must be 1-128 characters; shorten it")
            if len(value) > 256:
                raise ValueError(f"{field}: the value of tag {key!r} is longer than 256 characters; shorten it")
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
    config: object = None,
) -> EksSettings:
    """Every EKS-specific rule the spec model cannot know, checked before a single resource exists.

    Each of these would otherwise fail only after the VPC, the IAM roles and a ten-minute control plane had
    been created, leaving a half-built environment behind. ``config`` is accepted for the common signature:
    an EKS spec holds no secret reference.
    """
    del config
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
