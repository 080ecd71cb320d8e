"""Team self-service as data: the team file (``teams/<team>.yaml``), ops' ceilings and a team's plan per cluster.

Pure (no Pulumi import): ``strata plan`` and ``strata check`` read these models offline, the environment program
and a team's own stack hand a :class:`TeamSpacePlan` to :class:`components.teams.TeamSpace`, and the Kubernetes
objects of a team space are built here once (:func:`space_objects`), so the objects the plan judges, the objects
the schema tests validate and the objects Pulumi registers are the very same dictionaries.

A team file is owned by the application team and reviewed by ops; ops bound it per environment with
``strata:teams`` (:class:`TeamsSettings`). Every field carries its description: it is the reference of the
format (docs/teams.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from packs.model import Frozen, Name, Target

#: Label on every object of a team space (and what the CrossGuard pack recognises a team namespace by).
TEAM_LABEL = "strata.io/team"
#: Namespace label saying the team may own ``LoadBalancer`` services there (read by the CrossGuard pack).
LOAD_BALANCERS_LABEL = "strata.io/load-balancers"
#: Namespaces the cluster itself owns: a team never claims one.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

# --------------------------------------------------------------------------------------------- quantities

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity (``500m``, ``4``, ``16Gi``, ``1.5G``) as a number of base units."""
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 4, 512Mi, 16Gi)")
    try:
        return Decimal(m.group("number")) * _FACTORS[m.group("suffix") or ""]
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a Kubernetes quantity; write it as text, e.g. \"4\" or 16Gi")
    text = str(value)
    parse_quantity(text)
    return text


Quantity = Annotated[str, Field(description="A Kubernetes quantity: 500m, 4, 512Mi, 16Gi.")]


def format_quantity(value: Decimal, memory: bool) -> str:
    """A total for messages: CPU in cores (``2.5``), bytes in the largest whole binary unit (``48Gi``)."""
    if memory:
        for suffix in ("Ti", "Gi", "Mi", "Ki"):
            factor = _FACTORS[suffix]
            if value >= factor and value % factor == 0:
                return f"{value / factor:f}".rstrip("0").rstrip(".") + suffix
        return f"{value:f}"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------------------------- the team file


class TeamQuota(Frozen):
    """What one namespace may use in total (a ResourceQuota; requests and limits alike)."""

    cpu: Quantity = Field(description="CPU of all pods together (requests and limits), e.g. \"4\" or 2500m.")
    memory: Quantity = Field(description="Memory of all pods together (requests and limits), e.g. 8Gi.")
    pods: int = Field(default=50, ge=1, le=10000, description="Pods at most.")
    storage: Quantity = Field(default="20Gi", description="Storage all PersistentVolumeClaims may request.")
    load_balancers: int = Field(
        default=0, ge=0, description="Services of type LoadBalancer (cloud load balancers); ops must allow them."
    )

    @field_validator("cpu", "memory", "storage", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> str:
        return _quantity(value)


class NamespaceQuota(Frozen):
    """Per-namespace changes to the team's quota; unset fields keep the team's value."""

    cpu: Quantity | None = Field(default=None, description="CPU of this namespace.")
    memory: Quantity | None = Field(default=None, description="Memory of this namespace.")
    pods: int | None = Field(default=None, ge=1, le=10000, description="Pods of this namespace.")
    storage: Quantity | None = Field(default=None, description="Storage of this namespace.")
    load_balancers: int | None = Field(default=None, ge=0, description="LoadBalancer services of this namespace.")

    @field_validator("cpu", "memory", "storage", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> Any:
        return None if value is None else _quantity(value)


class Resources(Frozen):
    cpu: Quantity = Field(description="CPU, e.g. 500m.")
    memory: Quantity = Field(description="Memory, e.g. 512Mi.")

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> str:
        return _quantity(value)


class LimitDefaults(Frozen):
    """The LimitRange of each namespace: what a container gets when its manifest says nothing."""

    default: Resources = Field(
        default=Resources(cpu="500m", memory="512Mi"), description="Default limits of a container."
    )
    default_request: Resources = Field(
        default=Resources(cpu="100m", memory="128Mi"), description="Default requests of a container."
    )
    max: Resources | None = Field(default=None, description="Largest limits one container may ask for.")

    @model_validator(mode="after")
    def _ordered(self) -> LimitDefaults:
        # The API server refuses a LimitRange whose default request exceeds its default limit (or max).
        for what in ("cpu", "memory"):
            request = parse_quantity(getattr(self.default_request, what))
            limit = parse_quantity(getattr(self.default, what))
            if request > limit:
                raise ValueError(
                    f"default_request.{what} {getattr(self.default_request, what)} is above default.{what} "
                    f"{getattr(self.default, what)}; a request can never exceed its limit"
                )
            if self.max is not None and limit > parse_quantity(getattr(self.max, what)):
                raise ValueError(
                    f"default.{what} {getattr(self.default, what)} is above max.{what} {getattr(self.max, what)}"
                )
        return self


class TeamNamespaceSpec(Frozen):
    name: Name = Field(description="Namespace name (a DNS label), the same on every cluster the team lands on.")
    quota: NamespaceQuota | None = Field(default=None, description="This namespace's changes to the team's quota.")


_IAM_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_K8S_GROUP = r"^[^\s]{1,253}$"


class EksGroups(Frozen):
    """IAM principals: each gets an EKS access entry and a namespace-scoped access policy association."""

    admin: str = Field(pattern=_IAM_ARN, description="IAM role (or user) ARN of the team's admins.")
    view: str | None = Field(default=None, pattern=_IAM_ARN, description="IAM role (or user) ARN of read-only users.")


class AksGroups(Frozen):
    """Microsoft Entra groups (object ids): Azure RBAC role assignments scoped to each namespace."""

    admin: str = Field(pattern=_UUID, description="Object id of the team's admin group in Microsoft Entra ID.")
    view: str | None = Field(default=None, pattern=_UUID, description="Object id of the read-only group.")


class GkeGroups(Frozen):
    """Google groups bound by RoleBindings (Google Groups for RBAC: the cluster names its security group)."""

    admin: str = Field(pattern=_EMAIL, description="Google group of the team's admins, e.g. payments@example.com.")
    view: str | None = Field(default=None, pattern=_EMAIL, description="Google group of read-only users.")


class KubernetesGroups(Frozen):
    """Plain Kubernetes groups (from the cluster's authenticator: OIDC, certificates) bound by RoleBindings."""

    admin: str = Field(pattern=_K8S_GROUP, description="Kubernetes group of the team's admins.")
    view: str | None = Field(default=None, pattern=_K8S_GROUP, description="Kubernetes group of read-only users.")


class TeamGroups(Frozen):
    """The team's identity-provider groups, per kind of cluster it lands on."""

    eks: EksGroups | None = Field(default=None, description="On EKS clusters.")
    aks: AksGroups | None = Field(default=None, description="On AKS clusters.")
    gke: GkeGroups | None = Field(default=None, description="On GKE clusters.")
    kubernetes: KubernetesGroups | None = Field(default=None, description="On edge and existing clusters.")

    @model_validator(mode="after")
    def _distinct(self) -> TeamGroups:
        for kind in ("eks", "aks", "gke", "kubernetes"):
            groups = getattr(self, kind)
            if groups is not None and groups.view == groups.admin:
                raise ValueError(f"{kind}.view is the admin group too; give view a read-only group or remove it")
        return self

    def for_target(self, target: Target) -> tuple[str, EksGroups | AksGroups | GkeGroups | KubernetesGroups | None]:
        """The key of the groups a target reads, and those groups (None when the team gave none)."""
        key = {Target.EKS: "eks", Target.AKS: "aks", Target.GKE: "gke"}.get(target, "kubernetes")
        return key, getattr(self, key)


class ClusterSelector(Frozen):
    """Clusters chosen by what they are rather than by name (every condition must hold)."""

    targets: tuple[Target, ...] = Field(default=(), description="Only clusters of these targets (default: any).")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Cluster labels (or inventory columns labels.<key>) that must all match."
    )


class TeamEnvironment(Frozen):
    """What a team asks for in one environment."""

    clusters: tuple[Name, ...] = Field(default=(), description="Clusters by name.")
    selector: ClusterSelector | None = Field(default=None, description="Clusters by target and labels.")
    namespaces: tuple[TeamNamespaceSpec, ...] = Field(min_length=1, description="The team's namespaces.")
    quota: TeamQuota = Field(description="Quota of each namespace (a namespace may change it).")
    limits: LimitDefaults = Field(default_factory=LimitDefaults, description="Container defaults per namespace.")
    pod_security: Literal["restricted", "baseline"] = Field(
        default="restricted", description="Pod Security Standard enforced in the namespaces."
    )
    default_deny: bool = Field(
        default=True,
        description="Deny all traffic but DNS unless a NetworkPolicy allows it; false is a policy finding "
        "(team-namespace-guardrails), mandatory in production.",
    )
    groups: TeamGroups = Field(default_factory=TeamGroups, description="Identity-provider groups per target.")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Exposed pack variables ('<pack>.<variable>' -> value) the team sets on its clusters, where ops "
        "allow it (strata:teams: variables, or teams.<team>.variables).",
    )

    @model_validator(mode="after")
    def _shape(self) -> TeamEnvironment:
        if not self.clusters and self.selector is None:
            raise ValueError("name the clusters (clusters: [...]) or select them (selector: {labels: {...}})")
        names = [n.name for n in self.namespaces]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"namespaces listed twice: {twice}")
        return self


class TeamFile(Frozen):
    """``teams/<team>.yaml``: one application team's spaces, per environment."""

    team: Name = Field(description="The team's name: the file's name without .yaml, and the strata.io/team label.")
    description: str = Field(default="", description="What the team runs (shown in reviews and docs).")
    contact: str = Field(default="", description="How to reach the team (mail, chat channel).")
    renamed_from: tuple[Name, ...] = Field(
        default=(),
        description="Former team names, oldest first: the team's spaces then move to the new name (Pulumi aliases) "
        "instead of being deleted and created again.",
    )
    environments: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per environment name, a TeamEnvironment. Only the environment being planned is validated, "
        "so a mistake about prod never blocks dev.",
    )


# --------------------------------------------------------------------------------------------- ops' ceilings


class TeamCeiling(Frozen):
    """What one team may ask for on one cluster (totals over its namespaces there); unset fields inherit."""

    cpu: Quantity | None = Field(default=None, description="CPU of all the team's namespaces on a cluster.")
    memory: Quantity | None = Field(default=None, description="Memory of all the team's namespaces on a cluster.")
    pods: int | None = Field(default=None, ge=0, description="Pods of all the team's namespaces on a cluster.")
    storage: Quantity | None = Field(default=None, description="Storage of all the team's namespaces on a cluster.")
    namespaces: int | None = Field(default=None, ge=0, description="Namespaces per cluster.")
    load_balancers: int | None = Field(
        default=None, ge=0, description="LoadBalancer services per cluster; 0 forbids them (the default)."
    )

    @field_validator("cpu", "memory", "storage", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> Any:
        return None if value is None else _quantity(value)


#: Ceilings when ops set none: production is strict.
DEFAULT_CEILING = TeamCeiling(cpu="16", memory="32Gi", pods=200, storage="200Gi", namespaces=5, load_balancers=0)
PRODUCTION_CEILING = TeamCeiling(cpu="8", memory="16Gi", pods=100, storage="100Gi", namespaces=3, load_balancers=0)
CEILING_FIELDS = ("cpu", "memory", "pods", "storage", "namespaces", "load_balancers")


class TeamLimits(TeamCeiling):
    """One team's entry in ``strata:teams.teams``: its ceiling over the defaults, and variables only it may set."""

    variables: tuple[str, ...] = Field(
        default=(),
        description="Exposed pack variables ('<pack>.<variable>') this team may set, besides those every team may.",
    )


class TeamsSettings(Frozen):
    """``strata:teams``: the limits ops set on team files in this environment."""

    defaults: TeamCeiling = Field(
        default_factory=TeamCeiling,
        description="Ceiling of every team; unset fields: 16 CPU, 32Gi, 200 pods, 200Gi, 5 namespaces and no load "
        "balancer per cluster (production: 8 CPU, 16Gi, 100 pods, 100Gi, 3 namespaces, no load balancer).",
    )
    teams: dict[Name, TeamLimits] = Field(
        default_factory=dict, description="Per-team ceilings over the defaults, and variables only that team may set."
    )
    variables: tuple[str, ...] = Field(
        default=(),
        description="Exposed pack variables every team may set ('<pack>.<variable>'; '*': every exposed one). "
        "Default: none. A pack is installed once per cluster, so a team's value applies to every team there.",
    )

    def ceiling(self, team: str, production: bool) -> dict[str, Any]:
        """The team's effective ceiling: built-in defaults, then ``defaults``, then the team's own entry."""
        out = (PRODUCTION_CEILING if production else DEFAULT_CEILING).model_dump()
        for layer in (self.defaults, self.teams.get(team)):
            if layer is not None:
                out.update({k: getattr(layer, k) for k in CEILING_FIELDS if getattr(layer, k) is not None})
        return out

    def ceiling_place(self, team: str, key: str) -> str | None:
        """Where a ceiling value is set (for messages): the team's entry, the defaults, or None when built in."""
        own = self.teams.get(team)
        if own is not None and getattr(own, key) is not None:
            return f'config."strata:teams".teams.{team}.{key}'
        if getattr(self.defaults, key) is not None:
            return f'config."strata:teams".defaults.{key}'
        return None

    def allowed_variables(self, team: str) -> tuple[str, ...]:
        """The variables ``team`` may set: those ops allow every team, then its own (none unless ops list them).

        Nothing is allowed by default, in any environment: a team's value is the pack's value on the whole
        cluster (a log level, a replica count, a gateway's settings), so it changes the platform under every
        other team there; ops decide, variable by variable, which of them a team may own.
        """
        own = self.teams.get(team)
        extra = own.variables if own is not None else ()
        return (*self.variables, *(v for v in extra if v not in self.variables))


# --------------------------------------------------------------------------------------------- a team's plan


@dataclass(frozen=True)
class NamespacePlan:
    """One team namespace on one cluster, with its final quota."""

    name: str
    cpu: str
    memory: str
    pods: int
    storage: str
    load_balancers: int

    def hard(self) -> dict[str, str]:
        """The ResourceQuota's ``spec.hard``."""
        return {
            "requests.cpu": self.cpu,
            "limits.cpu": self.cpu,
            "requests.memory": self.memory,
            "limits.memory": self.memory,
            "pods": str(self.pods),
            "requests.storage": self.storage,
            "services.loadbalancers": str(self.load_balancers),
        }


AccessKind = Literal["eks-access-entry", "azure-rbac", "rolebinding"]


@dataclass(frozen=True)
class AccessPlan:
    """How the team's groups get into the cluster: ``eks-access-entry`` (IAM principals), ``azure-rbac``
    (Entra groups, role assignments at namespace scope) or ``rolebinding`` (a group name the API server
    sees: a Google group, an Entra group object id, a plain Kubernetes group)."""

    kind: AccessKind
    admin: str
    view: str | None = None


@dataclass(frozen=True)
class TeamSpacePlan:
    """Everything a :class:`components.teams.TeamSpace` creates for one team on one cluster."""

    team: str
    file: str
    cluster: str
    target: Target
    namespaces: tuple[NamespacePlan, ...]
    limits: LimitDefaults
    access: AccessPlan
    #: The cluster's Kubernetes minor version (``1.34``): the Pod Security Standard version enforced.
    kubernetes_version: str
    pod_security: str = "restricted"
    default_deny: bool = True
    #: Production: namespaces stay in the cluster when the team (or the cluster) leaves the program.
    retain: bool = False
    renamed_from: tuple[str, ...] = ()
    #: The cluster's former names (its ``renamed_from``): the space follows a renamed cluster too.
    cluster_renamed_from: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)
    #: Where the team's section is in its file (``environments.<env>``), for findings about the space.
    section: str = ""

    @property
    def name(self) -> str:
        """The component's name: team and cluster, so adding a cluster never renames another's space."""
        return f"{self.team}-{self.cluster}"

    @property
    def pod_security_version(self) -> str:
        """The Pod Security Standard version enforced: the cluster's own minor (``v1.34``), never ``latest``.

        With ``latest`` the API server upgrade itself would tighten the rules under running workloads (a pod that
        a newer standard forbids could not be re-created after a node drain); pinned, a cluster upgrade changes
        the label explicitly, and ``pulumi preview`` shows it on every team namespace.
        """
        return f"v{self.kubernetes_version}"

    @property
    def former_names(self) -> list[str]:
        """Every name the space had under a former team or cluster name (its aliases)."""
        teams, clusters = (self.team, *self.renamed_from), (self.cluster, *self.cluster_renamed_from)
        return [f"{t}-{c}" for t in teams for c in clusters if (t, c) != (self.team, self.cluster)]

    def as_dict(self) -> dict[str, Any]:
        """The ``teams`` entries of ``strata plan --json`` (docs/plan-json.md)."""
        return {
            "team": self.team,
            "file": self.file,
            "namespaces": [
                {
                    "name": n.name,
                    "quota": {
                        "cpu": n.cpu,
                        "memory": n.memory,
                        "pods": n.pods,
                        "storage": n.storage,
                        "load_balancers": n.load_balancers,
                    },
                }
                for n in self.namespaces
            ],
            "limits": self.limits.model_dump(mode="json", exclude_none=True),
            "access": {"kind": self.access.kind, "admin": self.access.admin, "view": self.access.view},
            "pod_security": self.pod_security,
            "pod_security_version": self.pod_security_version,
            "default_deny": self.default_deny,
            "retain": self.retain,
            "variables": dict(self.variables),
        }


def _labels(plan: TeamSpacePlan) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "strata", TEAM_LABEL: plan.team}


def namespace_object(plan: TeamSpacePlan, ns: NamespacePlan) -> dict[str, Any]:
    # warn and audit carry no version on purpose: they follow the API server's latest standard, so what the next
    # Kubernetes version would refuse shows up as warnings (kubectl, audit log) before an upgrade enforces it.
    labels = {
        **_labels(plan),
        "pod-security.kubernetes.io/enforce": plan.pod_security,
        "pod-security.kubernetes.io/enforce-version": plan.pod_security_version,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    if ns.load_balancers > 0:
        labels[LOAD_BALANCERS_LABEL] = "allowed"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name, "labels": labels}}


def namespaced_objects(plan: TeamSpacePlan, ns: NamespacePlan) -> list[dict[str, Any]]:
    """The objects inside one namespace: quota, limit range, default-deny policy and RoleBindings."""

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": ns.name, "labels": _labels(plan)}

    limits = plan.limits
    item: dict[str, Any] = {
        "type": "Container",
        "default": limits.default.model_dump(),
        "defaultRequest": limits.default_request.model_dump(),
    }
    if limits.max is not None:
        item["max"] = limits.max.model_dump()
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("team-quota"), "spec": {"hard": ns.hard()}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": meta("team-limits"), "spec": {"limits": [item]}},
    ]
    if plan.default_deny:
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": meta("default-deny"),
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"],
                    # DNS stays open: without it every workload fails in a way that looks like a network outage.
                    "egress": [
                        {
                            "to": [
                                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
                            ],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                        }
                    ],
                },
            }
        )
    if plan.access.kind == "rolebinding":
        for role, group in (("admin", plan.access.admin), ("view", plan.access.view)):
            if group is None:
                continue
            objects.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": meta(f"team-{role}"),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                }
            )
    return objects


def space_objects(plan: TeamSpacePlan) -> list[dict[str, Any]]:
    """Every Kubernetes object of a team space, namespace first, as the API server receives it."""
    out: list[dict[str, Any]] = []
    for ns in plan.namespaces:
        out.append(namespace_object(plan, ns))
        out.extend(namespaced_objects(plan, ns))
    return out
