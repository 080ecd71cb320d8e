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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi_aws import GetAvailabilityZonesFilterArgs, ec2, eks, get_availability_zones_output, iam, kms

from components.clusters.checks.eks import partition_for, validate
from components.clusters.contract import (
    POOL_LABEL,
    ClusterComponent,
    ClusterContract,
    EksHandles,
    WorkloadIdentity,
    exec_kubeconfig,
    make_provider,
    output_or,
    required_output,
)
from components.clusters.spec import EksClusterSpec, EksNodePool, EksVpc
from components.lifecycle import fixed_name
from packs.model import Target

if TYPE_CHECKING:
    from components.delivery.installers import InstallRequest

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
#: The smallest VPC subnet AWS accepts is a /28.
SUBNET_PREFIX_MAX = 28


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


# ----------------------------------------------------------------------------------------- advice


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
        adopt_existing: bool = False,
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

        issuer_url: pulumi.Output[str] = required_output(
            cluster.identities.apply(_issuer), spec.name, Target.EKS, "OIDC issuer (identities[].oidcs[].issuer)"
        )
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
        endpoint = required_output(cluster.endpoint, spec.name, Target.EKS, "API server endpoint")
        ca_data = required_output(
            cluster.certificate_authority.apply(_ca_data),
            spec.name,
            Target.EKS,
            "certificate authority data (certificate_authority.data)",
        )
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, endpoint, ca_data).apply(
                lambda args: eks_kubeconfig(spec.name, args[0], spec.region, args[1], args[2])
            )
        )
        provider = make_provider(
            name,
            Target.EKS,
            kubeconfig,
            parent=self,
            depends_on=node_groups,
            cloud_name=spec.cloud_name,
            adopt_existing=adopt_existing,
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
                kubernetes_version=output_or(cluster.version, spec.kubernetes_version),
                endpoint=endpoint,
                kubeconfig=kubeconfig,
                provider=provider,
                oidc_issuer=issuer_url,
                workload_identity=WorkloadIdentity(kind="aws-irsa", issuer=issuer_host, provider_arn=oidc_provider.arn),
                # The EBS CSI pack installs the driver and its StorageClass; a bare EKS cluster has no usable one.
                storage_class=None,
                load_balancer=True,
                handles=EksHandles(cluster_name=cluster.name, region=pulumi.Output.from_input(spec.region)),
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
            zone: pulumi.Output[str] = chosen[i]
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


def _issuer(identities: Sequence[Any] | None) -> str | None:
    for identity in identities or []:
        for oidc in _field(identity, "oidcs") or []:
            issuer = _field(oidc, "issuer")
            if issuer:
                return str(issuer)
    return None


def _ca_data(certificate_authority: Any) -> str | None:
    data = _field(certificate_authority, "data")
    return str(data) if data else None


__all__ = [
    "EKS_UNSUPPORTED_ZONE_IDS",
    "EksCluster",
    "SubnetPlan",
    "access_policy_arn",
    "eks_kubeconfig",
    "managed_policy_arn",
    "pick_zones",
    "plan_subnets",
    "spot_warnings",
]


class EksAddonInstaller:
    """An ``eks-addon`` pack as an ``aws.eks.Addon`` (components/delivery/installers.py selects it); its values are
    the add-on's configuration, its identity (IRSA) the add-on's service-account role."""

    def install(self, request: InstallRequest) -> None:
        pack, handles = request.pack, request.cluster.handles
        assert isinstance(handles, EksHandles) and pack.source.kind == "managed"
        eks.Addon(
            request.name,
            cluster_name=handles.cluster_name,
            region=handles.region,
            addon_name=pack.source.name,
            addon_version=pack.source.version,
            configuration_values=pulumi.Output.from_input(request.values).apply(lambda v: json.dumps(v, sort_keys=True))
            if pack.values
            else None,
            service_account_role_arn=request.identity.placeholders.get("aws_role_arn"),
            # strata owns the add-on's configuration: fields set by hand are overwritten, not kept.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=dict(request.tags),
            opts=request.opts(),
        )
