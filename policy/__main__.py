"""strata's CrossGuard policy pack: the rules of ``rules.py`` wired into Pulumi's policy engine, nothing else.

Run with ``pulumi preview --policy-pack policy`` (or the Automation API's ``policy_packs=["policy"]``). Each rule
becomes one policy of the same name; this file only turns the inputs of the resources a program registers into
the rules' views (``views`` / ``team_namespaces``) and reports what the rules say. The pack needs nothing of
strata installed: ``rules.py`` is imported from beside this file.

Per-stack configuration (``--policy-pack-config file.json``, written by ``strata check --env E --pulumi-config``):
``{"all": "mandatory", "<rule>": {"enforcementLevel": "advisory", "production": true,
"allowedRepositories": [...], "requiredTags": [...]}}``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
if TYPE_CHECKING:  # the type checker sees the package's module, the same file
    from policy import rules
else:
    import rules  # beside this file, wherever the pack is run from

#: Settings every policy accepts (each is the same for every rule of a stack).
CONFIG = PolicyConfigSchema(
    properties={
        "production": {"type": "boolean", "description": "The stack deploys a production environment."},
        "allowedRepositories": {"type": "array", "items": {"type": "string"}},
        "requiredTags": {"type": "array", "items": {"type": "string"}},
    }
)

TEAM_LABEL = "strata.io/team"
LOAD_BALANCERS_LABEL = "strata.io/load-balancers"

#: Kubernetes kinds that run pods (their images are checked).
WORKLOADS = {
    f"kubernetes:{t}"
    for t in (
        "core/v1:Pod",
        "apps/v1:Deployment",
        "apps/v1:StatefulSet",
        "apps/v1:DaemonSet",
        "apps/v1:ReplicaSet",
        "batch/v1:Job",
        "batch/v1:CronJob",
    )
}
CHARTS = ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart", "kubernetes:helm.sh/v3:Release")


def params(config: Mapping[str, Any]) -> rules.Params:
    return rules.Params(
        production=bool(config.get("production", False)),
        allowed_repositories=tuple(config.get("allowedRepositories") or ()),
        required_tags=tuple(config.get("requiredTags") or rules.DEFAULT_REQUIRED_TAGS),
    )


def _get(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    value: Any = props
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value or value[step] is None:
            return default
        value = value[step]
    return value


def _tags(props: Mapping[str, Any], key: str = "tags") -> dict[str, str] | None:
    value = props.get(key)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else None


def views(resource_type: str, name: str, props: Mapping[str, Any], protected: bool) -> list[Any]:
    """The rules' views of one resource, from its inputs; an absent input is judged at the cloud's default."""
    out: list[Any] = []
    if resource_type == "aws:eks/cluster:Cluster":
        public = bool(_get(props, "vpcConfig.endpointPublicAccess", True))
        cidrs = _get(props, "vpcConfig.publicAccessCidrs") or ["0.0.0.0/0"]
        encrypted = any("secrets" in (c.get("resources") or ()) for c in _as_list(props.get("encryptionConfig")))
        out += [
            rules.EksCluster(name, public, tuple(cidrs), encrypted, tuple(props.get("enabledClusterLogTypes") or ())),
            rules.Protectable("cluster", name, protected),
            rules.CloudResource(resource_type, name, _tags(props)),
        ]
    elif resource_type == "aws:eks/nodeGroup:NodeGroup":
        out += [rules.Protectable("node pool", name, protected), rules.CloudResource(resource_type, name, _tags(props))]
    elif resource_type == "azure-native:containerservice:ManagedCluster":
        out += [
            rules.AksCluster(
                name,
                private_cluster=bool(_get(props, "apiServerAccessProfile.enablePrivateCluster", False)),
                authorized_ip_ranges=tuple(_get(props, "apiServerAccessProfile.authorizedIPRanges") or ()),
                local_accounts_disabled=bool(props.get("disableLocalAccounts", False)),
                rbac=bool(props.get("enableRBAC", True)),
                azure_rbac=bool(_get(props, "aadProfile.enableAzureRBAC", False)),
                network_policy=_get(props, "networkProfile.networkPolicy"),
            ),
            rules.Protectable("cluster", name, protected),
            rules.CloudResource(resource_type, name, _tags(props)),
        ]
    elif resource_type == "azure-native:containerservice:AgentPool":
        out += [rules.Protectable("node pool", name, protected), rules.CloudResource(resource_type, name, _tags(props))]
    elif resource_type == "gcp:container/cluster:Cluster":
        out += [
            rules.GkeCluster(
                name,
                private_nodes=bool(_get(props, "privateClusterConfig.enablePrivateNodes", False)),
                workload_pool=_get(props, "workloadIdentityConfig.workloadPool"),
                release_channel=_get(props, "releaseChannel.channel"),
                shielded_nodes=bool(props.get("enableShieldedNodes", True)),
            ),
            rules.Protectable("cluster", name, protected),
            rules.CloudResource(resource_type, name, _tags(props, "resourceLabels")),
        ]
    elif resource_type == "gcp:container/nodePool:NodePool":
        shielded = _get(props, "nodeConfig.shieldedInstanceConfig", {})
        out += [
            rules.GkeNodePool(
                name,
                secure_boot=bool(shielded.get("enableSecureBoot", False)),
                integrity_monitoring=bool(shielded.get("enableIntegrityMonitoring", True)),
            ),
            rules.Protectable("node pool", name, protected),
            rules.CloudResource(resource_type, name, _tags(props.get("nodeConfig") or {}, "resourceLabels")),
        ]
    elif resource_type in CHARTS:
        repository = _get(props, "repositoryOpts.repo")
        out.append(rules.HelmChart(name, str(props.get("chart") or ""), props.get("version"), repository))
        out.append(rules.Workload("chart value", name, tuple(rules.chart_images(props.get("values") or {}))))
    elif resource_type in WORKLOADS:
        out.append(rules.Workload(resource_type.rsplit(":", 1)[-1], name, tuple(rules.pod_images(props))))
    elif resource_type == "kubernetes:core/v1:ConfigMap":
        out.append(rules.Values(name, props.get("data") or {}))
    elif resource_type.startswith(("aws:", "azure-native:")) and isinstance(props.get("tags"), Mapping):
        out.append(rules.CloudResource(resource_type, name, _tags(props)))
    elif resource_type.startswith("gcp:") and isinstance(props.get("labels"), Mapping):
        out.append(rules.CloudResource(resource_type, name, _tags(props, "labels")))
    return out


def _as_list(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value or () if isinstance(v, Mapping)]


def _meta(props: Mapping[str, Any], key: str) -> Any:
    return _get(props, f"metadata.{key}")


def team_namespaces(resources: Iterable[Any]) -> list[tuple[rules.TeamNamespace, str]]:
    """Every namespace labelled as a team's, with the guard rails the stack puts in it (and its URN)."""
    resources = list(resources)
    by_namespace: dict[str, list[Any]] = {}
    for r in resources:
        namespace = _meta(r.props, "namespace")
        if isinstance(namespace, str):
            by_namespace.setdefault(namespace, []).append(r)
    out = []
    for r in resources:
        if r.resource_type != "kubernetes:core/v1:Namespace":
            continue
        labels = _meta(r.props, "labels") or {}
        team = labels.get(TEAM_LABEL)
        if not team:
            continue
        name = _meta(r.props, "name") or r.name
        inside = by_namespace.get(name, [])
        kinds = {x.resource_type.rsplit(":", 1)[-1] for x in inside}
        deny = any(_default_deny(x.props) for x in inside if x.resource_type.endswith(":NetworkPolicy"))
        lbs = tuple(
            _meta(x.props, "name") or x.name
            for x in inside
            if x.resource_type == "kubernetes:core/v1:Service" and _get(x.props, "spec.type") == "LoadBalancer"
        )
        view = rules.TeamNamespace(
            name,
            str(team),
            has_quota="ResourceQuota" in kinds,
            has_limit_range="LimitRange" in kinds,
            default_deny=deny,
            load_balancers=lbs,
            load_balancers_allowed=labels.get(LOAD_BALANCERS_LABEL) == "allowed",
        )
        out.append((view, r.urn))
    return out


def _default_deny(props: Mapping[str, Any]) -> bool:
    return rules.is_default_deny(props.get("spec") or {})


def resource_policy(rule: rules.Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        found = views(args.resource_type, args.name, args.props, bool(args.opts.protect))
        for view in found:
            for violation in rule(view, params(args.get_config())):
                report(f"{violation.message}; {rule.fix}", None)

    return ResourceValidationPolicy(
        name=rule.id,
        description=rule.title,
        validate=validate,
        config_schema=CONFIG,
        remediation_steps=rule.fix,
    )


def stack_policy(rule: rules.Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for view, urn in team_namespaces(args.resources):
            for violation in rule(view, params(args.get_config())):
                report(f"{violation.message}; {rule.fix}", urn)

    return StackValidationPolicy(
        name=rule.id, description=rule.title, validate=validate, config_schema=CONFIG, remediation_steps=rule.fix
    )


def policies(registry: Mapping[str, rules.Rule] = rules.RULES) -> list[Any]:
    """One policy per rule, under the rule's id: stack policies for rules that judge several resources together."""
    build: Callable[[rules.Rule], Any]
    out: list[Any] = []
    for rule in registry.values():
        build = stack_policy if rule.stack else resource_policy
        out.append(build(rule))
    return out


# Mandatory unless the stack's policy config says otherwise: a pack nobody configured still stops a bad change.
PolicyPack(name="strata", policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)
