"""The CrossGuard pack (policy/__main__.py) without the engine: it registers one policy per rule, and each
policy reports on the resource inputs (or stack) that violate it and passes compliant ones."""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

pulumi_policy = pytest.importorskip("pulumi_policy", reason="needs pulumi-policy: pip install strata[policy]")

from pulumi_policy import (  # noqa: E402
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import RULES  # noqa: E402

PACK = Path(__file__).resolve().parent.parent / "policy"


@pytest.fixture(scope="module")
def registered() -> dict[str, Any]:
    """Run the pack's ``__main__.py`` with ``PolicyPack`` replaced, capturing what it would serve."""
    captured: dict[str, Any] = {}

    def fake_pack(name: str, policies: list[Any], **kwargs: Any) -> None:
        captured.update(name=name, policies={p.name: p for p in policies}, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pulumi_policy, "PolicyPack", fake_pack)
        runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    return captured


def test_pack_files_exist() -> None:
    assert (PACK / "PulumiPolicy.yaml").is_file()
    assert "pulumi-policy" in (PACK / "requirements.txt").read_text()


def test_every_rule_is_a_policy_of_the_right_kind(registered: dict[str, Any]) -> None:
    assert registered["name"] == "strata"
    assert set(registered["policies"]) == set(RULES)
    for rule_id, policy in registered["policies"].items():
        kind = StackValidationPolicy if RULES[rule_id].stack else ResourceValidationPolicy
        assert isinstance(policy, kind), rule_id
        assert policy.description == RULES[rule_id].title


def _opts(protect: bool = False) -> PolicyResourceOptions:
    # What the analyzer passes for a resource without options (no custom timeouts: zeros, not None).
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _validate(policy: Any, resource_type: str, props: Mapping[str, Any], protect: bool, config: Any) -> list[str]:
    messages: list[str] = []
    args = ResourceValidationArgs(resource_type, props, f"urn:pulumi:s::p::{resource_type}::r", "r", _opts(protect),
                                  None, config)
    policy.validate(args, lambda message, urn=None: messages.append(message))
    return messages


PROD = {"production": True}
EKS = "aws:eks/cluster:Cluster"
AKS = "azure-native:containerservice:ManagedCluster"
GKE = "gcp:container/cluster:Cluster"
GOOD_EKS = {
    "vpcConfig": {"endpointPublicAccess": False},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:..."}},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    "tags": {"owner": "platform", "strata-environment": "prod"},
}
GOOD_AKS = {
    "apiServerAccessProfile": {"enablePrivateCluster": True},
    "disableLocalAccounts": True,
    "enableRBAC": True,
    "aadProfile": {"managed": True, "enableAzureRBAC": True},
    "networkProfile": {"networkPolicy": "azure"},
    "tags": {"owner": "platform", "strata-environment": "prod"},
}
GOOD_GKE = {
    "privateClusterConfig": {"enablePrivateNodes": True},
    "workloadIdentityConfig": {"workloadPool": "proj-1.svc.id.goog"},
    "releaseChannel": {"channel": "STABLE"},
    "resourceLabels": {"owner": "platform", "strata-environment": "prod"},
}
POD = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "app:1.2.3"}]}}}}

#: rule -> (resource type, violating inputs, compliant inputs, protect of both, config)
RESOURCE_CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], bool, dict[str, Any]]] = {
    "eks-endpoint-restricted": (EKS, {**GOOD_EKS, "vpcConfig": {}}, GOOD_EKS, True, PROD),
    "eks-secrets-encryption": (EKS, {k: v for k, v in GOOD_EKS.items() if k != "encryptionConfig"}, GOOD_EKS, True,
                               PROD),
    "eks-audit-logs": (EKS, {**GOOD_EKS, "enabledClusterLogTypes": ["api"]}, GOOD_EKS, True, PROD),
    "aks-api-restricted": (AKS, {**GOOD_AKS, "apiServerAccessProfile": {}},
                           {**GOOD_AKS, "apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]}}, True,
                           PROD),
    "aks-local-accounts-disabled": (AKS, {**GOOD_AKS, "disableLocalAccounts": False}, GOOD_AKS, True, PROD),
    "aks-azure-rbac": (AKS, {**GOOD_AKS, "aadProfile": {"managed": True}}, GOOD_AKS, True, PROD),
    "aks-network-policy": (AKS, {**GOOD_AKS, "networkProfile": {"networkPlugin": "azure"}}, GOOD_AKS, True, PROD),
    "gke-private-nodes": (GKE, {**GOOD_GKE, "privateClusterConfig": {}}, GOOD_GKE, True, PROD),
    "gke-workload-identity": (GKE, {k: v for k, v in GOOD_GKE.items() if k != "workloadIdentityConfig"}, GOOD_GKE,
                              True, PROD),
    "gke-release-channel": (GKE, {**GOOD_GKE, "releaseChannel": {"channel": "RAPID"}}, GOOD_GKE, True, PROD),
    "gke-shielded-nodes": (
        "gcp:container/nodePool:NodePool",
        {"nodeConfig": {"shieldedInstanceConfig": {"enableIntegrityMonitoring": True}}},
        {"nodeConfig": {"shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True}}},
        True,
        PROD,
    ),
    "production-protected": ("aws:eks/nodeGroup:NodeGroup", {}, {}, False, PROD),  # protect flips below
    "helm-chart-pinned": (
        "kubernetes:helm.sh/v4:Chart",
        {"chart": "app", "repositoryOpts": {"repo": "https://charts.example.com"}},
        {"chart": "app", "version": "1.2.3", "repositoryOpts": {"repo": "https://charts.example.com"}},
        False,
        {},
    ),
    "image-tag-pinned": (
        "kubernetes:apps/v1:Deployment",
        {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "app"}]}}}},
        POD,
        False,
        {},
    ),
    "credentials-as-secrets": (
        "kubernetes:core/v1:ConfigMap",
        {"data": {"DB_PASSWORD": "hunter2"}},
        {"data": {"DB_HOST": "db.internal"}},
        False,
        {},
    ),
    "required-tags": ("aws:ec2/vpc:Vpc", {"tags": {"strata-environment": "prod"}},
                      {"tags": {"strata-environment": "prod", "owner": "platform"}}, False, {}),
    "edge-host-key-pinned": ("command:remote:Command", {}, {}, False, PROD),
}


@pytest.mark.parametrize("rule_id", sorted(r for r in RULES if not RULES[r].stack))
def test_resource_policy_reports_violations(registered: dict[str, Any], rule_id: str) -> None:
    resource_type, bad, good, protect, config = RESOURCE_CASES[rule_id]
    policy = registered["policies"][rule_id]
    if rule_id == "production-protected":
        assert _validate(policy, resource_type, bad, False, config)
        assert not _validate(policy, resource_type, good, True, config)
        assert not _validate(policy, resource_type, bad, False, {"production": False})
        return
    if rule_id == "edge-host-key-pinned":
        # Edge hosts are reached by pulumi-command, whose inputs say nothing of host keys: offline only.
        assert not _validate(policy, resource_type, bad, protect, config)
        return
    found = _validate(policy, resource_type, bad, protect, config)
    assert found, f"{rule_id} passed violating {resource_type} inputs"
    assert RULES[rule_id].fix in found[0]
    assert _validate(policy, resource_type, good, protect, config) == []


def test_chart_repository_allow_list_comes_from_the_policy_config(registered: dict[str, Any]) -> None:
    policy = registered["policies"]["helm-chart-pinned"]
    props = {"chart": "app", "version": "1.2.3", "repositoryOpts": {"repo": "https://charts.example.com"}}
    assert not _validate(policy, "kubernetes:helm.sh/v4:Chart", props, False, {})
    assert _validate(policy, "kubernetes:helm.sh/v4:Chart", props, False, {"allowedRepositories": ["oci://x/"]})


def _resource(resource_type: str, name: str, props: dict[str, Any]) -> PolicyResource:
    return PolicyResource(resource_type, props, f"urn:{resource_type}::{name}", name, _opts(), None, None, [], {})


def _team_stack(*, deny: bool = True, lb: bool = False, allowed: bool = False) -> list[PolicyResource]:
    labels = {"strata.io/team": "payments", **({"strata.io/load-balancers": "allowed"} if allowed else {})}
    ns = {"metadata": {"name": "payments", "namespace": None}}
    out = [
        _resource("kubernetes:core/v1:Namespace", "payments", {"metadata": {"name": "payments", "labels": labels}}),
        _resource("kubernetes:core/v1:ResourceQuota", "q", {"metadata": {"name": "q", "namespace": "payments"}}),
        _resource("kubernetes:core/v1:LimitRange", "l", {"metadata": {"name": "l", "namespace": "payments"}}),
        _resource("kubernetes:core/v1:Namespace", "other", ns),
    ]
    if deny:
        spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{"ports": [{"port": 53}]}]}
        out.append(_resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "deny",
                             {"metadata": {"name": "deny", "namespace": "payments"}, "spec": spec}))
    if lb:
        out.append(_resource("kubernetes:core/v1:Service", "web",
                             {"metadata": {"name": "web", "namespace": "payments"}, "spec": {"type": "LoadBalancer"}}))
    return out


def _stack(policy: Any, resources: list[PolicyResource]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(resources, {}), lambda message, urn=None: found.append((message, urn)))
    return found


def test_team_namespace_guardrails_stack_policy(registered: dict[str, Any]) -> None:
    policy = registered["policies"]["team-namespace-guardrails"]
    assert _stack(policy, _team_stack()) == []
    found = _stack(policy, _team_stack(deny=False))
    assert len(found) == 1 and "default-deny NetworkPolicy" in found[0][0]
    assert found[0][1] == "urn:kubernetes:core/v1:Namespace::payments"


def test_team_load_balancer_stack_policy(registered: dict[str, Any]) -> None:
    policy = registered["policies"]["team-load-balancer"]
    assert _stack(policy, _team_stack()) == []
    assert "web" in _stack(policy, _team_stack(lb=True))[0][0]
    assert _stack(policy, _team_stack(lb=True, allowed=True)) == []


@pytest.mark.parametrize(
    ("resource_type", "expected"),
    [
        (EKS, {"eks-endpoint-restricted", "eks-secrets-encryption", "eks-audit-logs", "required-tags"}),
        (AKS, {"aks-api-restricted", "aks-local-accounts-disabled", "aks-azure-rbac", "aks-network-policy",
               "required-tags"}),
        (GKE, {"gke-private-nodes", "gke-workload-identity", "gke-release-channel", "required-tags"}),
    ],
)
def test_absent_inputs_are_judged_at_the_cloud_default(
    registered: dict[str, Any], resource_type: str, expected: set[str]
) -> None:
    """A bare cluster resource gets what its cloud gives by default: public, unencrypted, local accounts..."""
    found = {name for name, p in registered["policies"].items()
             if isinstance(p, ResourceValidationPolicy) and _validate(p, resource_type, {}, True, PROD)}
    assert found == expected


def _from_mocks(mocks: Any) -> list[PolicyResource]:
    return [_resource(r.typ, r.name, r.inputs) for r in mocks.resources if r.custom]


@pytest.mark.parametrize(("deny", "load_balancers"), [(True, 0), (False, 0), (True, 1)])
def test_the_pack_sees_real_team_spaces(
    registered: dict[str, Any], mocks: Any, deny: bool, load_balancers: int
) -> None:
    """What a TeamSpace registers is judged by the stack policies as the offline check judges its plan."""
    import pulumi_kubernetes as k8s

    from components.team_spec import AccessPlan, LimitDefaults, NamespacePlan, TeamSpacePlan
    from components.teams import TeamSpace
    from packs.model import Target
    from tests.mocks import settle

    space = TeamSpacePlan(
        team="payments",
        file="stacks/teams/payments.yaml",
        cluster="ops",
        target=Target.EXISTING,
        namespaces=(NamespacePlan("payments", "2", "4Gi", 20, "10Gi", load_balancers),),
        limits=LimitDefaults(),
        access=AccessPlan("rolebinding", "payments-admins"),
        kubernetes_version="1.34",
        default_deny=deny,
    )
    TeamSpace(space, k8s.Provider("ops-k8s", render_yaml_to_directory="out"))
    settle()
    resources = _from_mocks(mocks)
    guardrails = _stack(registered["policies"]["team-namespace-guardrails"], resources)
    assert [m for m, _ in guardrails] == ([] if deny else [
        "team payments's namespace has no default-deny NetworkPolicy; "
        + RULES["team-namespace-guardrails"].fix
    ])
    service = _resource("kubernetes:core/v1:Service", "web",
                        {"metadata": {"name": "web", "namespace": "payments"}, "spec": {"type": "LoadBalancer"}})
    lbs = _stack(registered["policies"]["team-load-balancer"], [*resources, service])
    assert bool(lbs) is (load_balancers == 0)
