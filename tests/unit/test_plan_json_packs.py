"""What a pipeline reads per pack in ``strata plan --json``: whether it owns data, and what its identity may do.

A reviewer approving a production change needs both without reading the catalogue: a stateful pack is kept on
removal and its removal must be acknowledged; a granted pack gets cloud permissions whose scopes come from the
pack's own values (external-dns: the hosted zones, the DNS resource group, the DNS project). Both keys are
optional in ``strata.plan/v1`` and appear only where they apply.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.plan import EnvironmentPlan, plan_environment

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def prod() -> EnvironmentPlan:
    return plan_environment("prod")


def _packs(doc: dict[str, Any], cluster: str) -> dict[str, dict[str, Any]]:
    found = next(c for c in doc["clusters"] if c["name"] == cluster)
    return {p["name"]: p for p in found["packs"]}


def _doc(plan: EnvironmentPlan) -> dict[str, Any]:
    """The document as a pipeline gets it: the text, parsed."""
    text = plan.as_json()
    assert text == json.dumps(plan.as_dict(), separators=(",", ":"))
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_stateful_packs_say_so_and_others_do_not(prod: EnvironmentPlan) -> None:
    for cluster in ("prod-eks-eu", "prod-aks-eu", "prod-gke-us"):
        packs = _packs(_doc(prod), cluster)
        assert packs["kube-prometheus-stack"]["stateful"] is True  # requires storage-class: keeps volumes
        assert packs["loki"]["stateful"] is True
        assert "stateful" not in packs["cert-manager"]
        assert "stateful" not in packs["external-dns"]


def test_external_dns_on_eks_is_granted_exactly_its_hosted_zones(prod: EnvironmentPlan) -> None:
    identity = _packs(_doc(prod), "prod-eks-eu")["external-dns"]["identity"]
    assert identity["service_account"] == "external-dns"
    assert set(identity) == {"service_account", "aws_policy"}  # no other cloud's grants
    resources = [r for s in identity["aws_policy"]["Statement"] for r in s["Resource"]]
    assert "arn:aws:route53:::hostedzone/Z0PRODEU0000000000001" in resources
    assert not any("{{" in r for r in resources)


def test_external_dns_on_aks_is_granted_the_dns_resource_group(prod: EnvironmentPlan) -> None:
    identity = _packs(_doc(prod), "prod-aks-eu")["external-dns"]["identity"]
    assert set(identity) == {"service_account", "azure_roles"}
    assert {"role": "DNS Zone Contributor", "subscription": SUBSCRIPTION, "resource_group": "dns-zones"} in (
        identity["azure_roles"]
    )


def test_external_dns_on_gke_is_granted_in_the_project(prod: EnvironmentPlan) -> None:
    identity = _packs(_doc(prod), "prod-gke-us")["external-dns"]["identity"]
    assert identity == {
        "service_account": "external-dns",
        "gcp_roles": [{"role": "roles/dns.admin", "project": "strata-prod-0001"}],
    }


def test_packs_without_a_cloud_identity_carry_no_identity_key(prod: EnvironmentPlan) -> None:
    for cluster in ("prod-eks-eu", "prod-aks-eu", "prod-gke-us"):
        packs = _packs(_doc(prod), cluster)
        assert "identity" not in packs["cert-manager"]
        assert "identity" not in packs["kube-prometheus-stack"]


def test_edge_sites_have_no_grants() -> None:
    """k3s sites have no workload identity: nothing is granted, so nothing is shown."""
    doc = _doc(plan_environment("edge"))
    assert doc["clusters"]
    for cluster in doc["clusters"]:
        assert not any("identity" in p for p in cluster["packs"])


def test_no_secret_reaches_the_new_keys(prod: EnvironmentPlan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "s3cret-grafana-value")
    text = plan_environment("prod").as_json(explain=True)
    assert "s3cret-grafana-value" not in text
