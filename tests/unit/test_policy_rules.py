"""Every policy rule with a violating and a compliant subject, and the helpers the rules read through."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import (
    RULES,
    AksCluster,
    CloudResource,
    EdgeSite,
    EksCluster,
    GkeCluster,
    GkeNodePool,
    HelmChart,
    Level,
    Params,
    Protectable,
    TeamNamespace,
    Values,
    Workload,
    chart_images,
    default_levels,
    evaluate,
    image_problem,
    is_credential_key,
    pod_images,
)

PROD = Params(production=True)
IMAGE = "spec.template.spec.containers[0].image"
GOOD_TEAM = TeamNamespace("payments", "payments", has_quota=True, has_limit_range=True, default_deny=True)

#: rule -> (violating subject, params, the field the violation names), (compliant subject, params)
CASES: dict[str, tuple[tuple[Any, Params, str], tuple[Any, Params]]] = {
    "eks-endpoint-restricted": (
        (EksCluster("c", endpoint_public_access=True, public_access_cidrs=("0.0.0.0/0",)), PROD, "public_access_cidrs"),
        (EksCluster("c", endpoint_public_access=True, public_access_cidrs=("203.0.113.0/24",)), PROD),
    ),
    "eks-secrets-encryption": (
        (EksCluster("c", secrets_encryption=False), PROD, "secrets_encryption"),
        (EksCluster("c", secrets_encryption=True), PROD),
    ),
    "eks-audit-logs": (
        (EksCluster("c", log_types=("api", "authenticator")), PROD, "log_types"),
        (EksCluster("c", log_types=("api", "audit", "authenticator", "scheduler")), PROD),
    ),
    "aks-api-restricted": (
        (AksCluster("c", private_cluster=False, authorized_ip_ranges=()), PROD, "authorized_ip_ranges"),
        (AksCluster("c", private_cluster=False, authorized_ip_ranges=("203.0.113.0/24",)), PROD),
    ),
    "aks-local-accounts-disabled": (
        (AksCluster("c", local_accounts_disabled=False), PROD, "local_accounts_disabled"),
        (AksCluster("c", local_accounts_disabled=True), PROD),
    ),
    "aks-azure-rbac": (
        (AksCluster("c", rbac=True, azure_rbac=False), PROD, "azure_rbac"),
        (AksCluster("c", rbac=True, azure_rbac=True), PROD),
    ),
    "aks-network-policy": (
        (AksCluster("c", network_policy=None), PROD, "network_policy"),
        (AksCluster("c", network_policy="cilium"), PROD),
    ),
    "gke-private-nodes": (
        (GkeCluster("c", private_nodes=False), PROD, "private_nodes"),
        (GkeCluster("c", private_nodes=True), PROD),
    ),
    "gke-workload-identity": (
        (GkeCluster("c", workload_pool=None), PROD, "workload_pool"),
        (GkeCluster("c", workload_pool="proj-1.svc.id.goog"), PROD),
    ),
    "gke-release-channel": (
        (GkeCluster("c", release_channel="RAPID"), PROD, "release_channel"),
        (GkeCluster("c", release_channel="STABLE"), PROD),
    ),
    "gke-shielded-nodes": (
        (GkeNodePool("c/apps", secure_boot=False, integrity_monitoring=True), PROD, "secure_boot"),
        (GkeNodePool("c/apps", secure_boot=True, integrity_monitoring=True), PROD),
    ),
    "production-protected": (
        (Protectable("node pool", "c/apps", protected=False), PROD, "protect"),
        (Protectable("node pool", "c/apps", protected=True), PROD),
    ),
    "helm-chart-pinned": (
        (HelmChart("p", "app", "^1.2", "https://charts.example.com"), PROD, "version"),
        (HelmChart("p", "app", "1.2.3", "https://charts.example.com"), PROD),
    ),
    "image-tag-pinned": (
        (Workload("Deployment", "w", ((IMAGE, "nginx:latest"),)), PROD, IMAGE),
        (Workload("Deployment", "w", ((IMAGE, "registry:5000/nginx:1.27.3"),)), PROD),
    ),
    "team-namespace-guardrails": (
        (TeamNamespace("payments", "payments", True, True, default_deny=False), PROD, "network_policy"),
        (GOOD_TEAM, PROD),
    ),
    "team-load-balancer": (
        (TeamNamespace("payments", "payments", True, True, True, load_balancers=("web",)), PROD, "load_balancers"),
        (TeamNamespace("payments", "payments", True, True, True, ("web",), load_balancers_allowed=True), PROD),
    ),
    "credentials-as-secrets": (
        (Values("grafana", {"grafana": {"adminPassword": "hunter2"}}, "{{ secret."), PROD, "grafana.adminPassword"),
        (Values("grafana", {"grafana": {"adminPassword": "{{ secret.grafana_admin_password }}"}}, "{{ secret."), PROD),
    ),
    "required-tags": (
        (CloudResource("eks cluster", "c", {"strata-environment": "prod"}), PROD, "tags"),
        (CloudResource("eks cluster", "c", {"strata-environment": "prod", "owner": "platform"}), PROD),
    ),
    "edge-host-key-pinned": (
        (EdgeSite("site-1", (("site-1", False),)), PROD, "hosts[0].host_key"),
        (EdgeSite("site-1", (("site-1", True),)), PROD),
    ),
}


def test_at_least_fifteen_rules_and_every_one_has_cases() -> None:
    assert len(RULES) >= 15
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_reports_the_violation(rule_id: str) -> None:
    (subject, params, field), _ = CASES[rule_id]
    found = RULES[rule_id](subject, params)
    assert found, f"{rule_id} let a violating subject pass"
    assert all(v.rule == rule_id for v in found)
    assert field in [v.field for v in found]


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_passes_the_compliant_subject(rule_id: str) -> None:
    _, (subject, params) = CASES[rule_id]
    assert RULES[rule_id](subject, params) == []


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_ignores_subjects_it_does_not_read(rule_id: str) -> None:
    (subject, params, _), _ = CASES[rule_id]
    others = [s for other, ((s, _, _), _) in CASES.items() if not isinstance(s, type(subject))]
    assert all(RULES[rule_id](o, params) == [] for o in others)


def test_provider_defaults_are_judged_as_the_cloud_applies_them() -> None:
    # An EKS cluster with no endpoint inputs is public to 0.0.0.0/0, without encryption or logs.
    bare = EksCluster("c")
    assert {r for r in ("eks-endpoint-restricted", "eks-secrets-encryption", "eks-audit-logs") if RULES[r](bare)} == {
        "eks-endpoint-restricted",
        "eks-secrets-encryption",
        "eks-audit-logs",
    }
    assert RULES["eks-endpoint-restricted"](EksCluster("c", endpoint_public_access=True, public_access_cidrs=()))
    assert not RULES["eks-endpoint-restricted"](EksCluster("c", endpoint_public_access=False))
    assert RULES["eks-endpoint-restricted"](EksCluster("c", public_access_cidrs=("::/0",)))
    assert RULES["aks-api-restricted"](AksCluster("c", authorized_ip_ranges=("0.0.0.0/0",)))
    assert not RULES["aks-api-restricted"](AksCluster("c", private_cluster=True))
    assert RULES["gke-release-channel"](GkeCluster("c", release_channel=None), Params())
    assert not RULES["gke-release-channel"](GkeCluster("c", release_channel="RAPID"), Params(production=False))
    assert RULES["gke-shielded-nodes"](GkeCluster("c", shielded_nodes=False))


def test_production_only_rules_do_not_fire_elsewhere() -> None:
    assert not RULES["production-protected"](Protectable("cluster", "c", False), Params(production=False))
    assert not RULES["edge-host-key-pinned"](EdgeSite("s", (("s", False),)), Params(production=False))


def test_chart_repositories() -> None:
    rule = RULES["helm-chart-pinned"]
    assert rule(HelmChart("p", "app", "1.0.0", "http://charts.example.com"))  # not TLS
    assert rule(HelmChart("p", "./charts/app", "1.0.0", None))  # a local path
    assert not rule(HelmChart("p", "oci://ghcr.io/acme/app", "1.0.0", None))  # OCI chart reference
    allowed = Params(allowed_repositories=("https://charts.example.com/",))
    assert not rule(HelmChart("p", "app", "v1.0.0", "https://charts.example.com/stable"), allowed)
    assert [v.field for v in rule(HelmChart("p", "app", "1.0.0", "https://evil.example.net"), allowed)] == [
        "repository"
    ]
    assert [v.field for v in rule(HelmChart("p", "app", None, "https://charts.example.com"))] == ["version"]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nginx", False),
        ("nginx:latest", False),
        ("registry.example.com:5000/team/app", False),  # the port is no tag
        ("registry.example.com:5000/team/app:1.2.3", True),
        ("nginx@sha256:" + "a" * 64, True),
        ("nginx:latest@sha256:" + "a" * 64, True),  # the digest pins it
    ],
)
def test_image_references(image: str, pinned: bool) -> None:
    assert (image_problem(image) is None) is pinned


def test_images_found_in_chart_values_and_pod_specs() -> None:
    values = {"image": {"repository": "ghcr.io/a/b", "tag": "latest"}, "sidecar": {"image": "busybox"},
              "other": {"image": {"repository": "x", "tag": ""}}}
    assert dict(chart_images(values)) == {"image.tag": "ghcr.io/a/b:latest", "sidecar.image": "busybox"}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "app:1.0.0"}], "initContainers": [{"name": "i", "image": "init"}]}}}}}}
    assert dict(pod_images(cron)) == {
        "spec.jobTemplate.spec.template.spec.initContainers[0].image": "init",
        "spec.jobTemplate.spec.template.spec.containers[0].image": "app:1.0.0",
    }


@pytest.mark.parametrize(
    ("key", "credential"),
    [
        ("adminPassword", True),
        ("password", True),
        ("api_key", True),
        ("bearerToken", True),
        ("existingSecret", False),
        ("passwordKey", False),
        ("automountServiceAccountToken", True),
    ],
)
def test_credential_keys(key: str, credential: bool) -> None:
    assert is_credential_key(key) is credential


def test_only_text_values_are_credentials() -> None:
    values = {"automountServiceAccountToken": True, "admin": {"existingSecret": "grafana-admin"}, "token": ""}
    assert RULES["credentials-as-secrets"](Values("x", values)) == []


def test_evaluate_applies_levels_and_skips_disabled_rules() -> None:
    subjects = [EksCluster("c"), Protectable("cluster", "c", False)]
    levels = {**default_levels(True), "eks-audit-logs": Level.DISABLED, "eks-secrets-encryption": Level.ADVISORY}
    found = evaluate(subjects, PROD, levels)
    assert {f.violation.rule for f in found.mandatory} == {"eks-endpoint-restricted", "production-protected"}
    assert {f.violation.rule for f in found.advisory} == {"eks-secrets-encryption"}
    assert set(default_levels(False).values()) == {Level.ADVISORY}
