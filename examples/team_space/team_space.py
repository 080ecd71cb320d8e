"""A team's space on a shared cluster: namespace, quota, default limits, admin binding, default-deny network.

This is what an application team builds on a platform cluster it does not own. Everything goes through
the provider obtained from the platform's stack contract, and every namespaced object depends on the
namespace, so nothing is ever applied before the namespace it lives in exists.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, field_validator

_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


class TeamSpaceArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    team: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", description="Team name; the namespace.")
    admin_group: str = Field(min_length=1, description="Identity-provider group bound to the namespace admin role.")
    cpu: str = Field(default="4", description="CPU quota (requests and limits).")
    memory: str = Field(default="8Gi", description="Memory quota (requests and limits).")
    pods: int = Field(default=50, ge=1, description="Pod count quota.")

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 4, 8Gi)")
        return value


class TeamSpace(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: TeamSpaceArgs, provider: k8s.Provider, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("strata:examples:TeamSpace", name, None, opts)
        team = args.team
        base = pulumi.ResourceOptions(parent=self, provider=provider)
        labels = {"app.kubernetes.io/managed-by": "strata", "strata.io/team": team}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=team,
                labels={**labels, "pod-security.kubernetes.io/enforce": "restricted"},
            ),
            opts=base,
        )
        inside = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[self.namespace]))
        meta = lambda n: k8s.meta.v1.ObjectMetaArgs(name=n, namespace=team, labels=labels)  # noqa: E731
        self.quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("team-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": args.cpu,
                    "limits.cpu": args.cpu,
                    "requests.memory": args.memory,
                    "limits.memory": args.memory,
                    "pods": str(args.pods),
                }
            ),
            opts=inside,
        )
        self.limits = k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("team-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": "500m", "memory": "512Mi"},
                        default_request={"cpu": "100m", "memory": "128Mi"},
                    )
                ]
            ),
            opts=inside,
        )
        self.admins = k8s.rbac.v1.RoleBinding(
            f"{name}-admins",
            metadata=meta("team-admins"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="admin"),
            subjects=[
                k8s.rbac.v1.SubjectArgs(api_group="rbac.authorization.k8s.io", kind="Group", name=args.admin_group)
            ],
            opts=inside,
        )
        self.default_deny = k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
                # DNS stays open: without it every workload fails in a way that looks like a network outage.
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
            opts=inside,
        )
        self.register_outputs({"namespace": self.namespace.metadata.name})
