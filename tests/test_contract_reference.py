"""Stack references between teams: the versioned contract, the consumer helper, the example team space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.teams import TeamSpace, handles_from
from examples.team_space.team_space import team_space
from packs.errors import PlanErrors
from stacks.contract import SCHEMA_VERSION, ContractError, cluster_from_reference, parse_outputs
from tests.mocks import GraphMocks, is_secret, resolve, settle, validate_objects


def contract(**extra: Any) -> dict[str, Any]:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "name": "dev-eks",
        "target": "eks",
        "kubernetes_version": "1.31",
        "endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        "kubeconfig": "apiVersion: v1\nkind: Config\n",
        "oidc_issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        "profiles": ["cloud-standard@1.0.0"],
        "packs": {
            "cert-manager": {
                "version": "1.16.2",
                "layer": "addon",
                "namespace": "cert-manager",
                "profile": "cloud-standard@1.0.0",
            }
        },
    }
    doc.update(extra)
    return doc


def reference(mocks: GraphMocks, clusters: dict[str, Any]) -> None:
    mocks.state_for["pulumi:pulumi:StackReference"] = lambda args: {
        "name": args.inputs.get("name"),
        "outputs": {"clusters": clusters, "environment": "dev"},
        "secretOutputNames": ["clusters"],
    }


def test_reference_gives_validated_contract_and_provider(mocks: GraphMocks) -> None:
    reference(mocks, {"dev-eks": contract()})
    ref = cluster_from_reference("acme/strata/dev", "dev-eks", name="payments")
    outputs = resolve(ref.outputs)
    assert outputs.name == "dev-eks" and outputs.packs["cert-manager"].version == "1.16.2"
    assert is_secret(ref.kubeconfig)
    settle()
    provider = mocks.named("payments-k8s")
    assert provider.typ == "pulumi:providers:kubernetes"
    assert provider.inputs["clusterIdentifier"] == "strata/eks/dev-eks"
    # The kubeconfig reaches the provider only as a secret.
    assert "4dabf18193072939515e22adb298388d" in provider.inputs["kubeconfig"]


def test_wrong_schema_version_is_a_clear_error(mocks: GraphMocks) -> None:
    reference(mocks, {"dev-eks": contract(schema_version=99)})
    ref = cluster_from_reference("acme/strata/dev", "dev-eks")
    with pytest.raises(ContractError, match=r"stack acme/strata/dev, cluster dev-eks: .*schema_version 99 .*expects 1"):
        resolve(ref.outputs)


def test_missing_cluster_is_a_clear_error(mocks: GraphMocks) -> None:
    reference(mocks, {"dev-eks": contract()})
    ref = cluster_from_reference("acme/strata/dev", "dev-aks")
    with pytest.raises(ContractError, match="cluster dev-aks: no cluster contract exported"):
        resolve(ref.outputs)


def test_invalid_contract_fields_are_named() -> None:
    with pytest.raises(ContractError, match=r"target: unknown value 'openshift'; use one of eks, aks, gke, edge"):
        parse_outputs(contract(target="openshift"), "s", "c")
    with pytest.raises(ContractError, match="kubeconfig"):
        parse_outputs({k: v for k, v in contract().items() if k != "kubeconfig"}, "s", "c")


def test_a_teams_own_stack_builds_its_checked_space(mocks: GraphMocks) -> None:
    """examples/team_space: the team's file checked against dev, the cluster by reference, the same TeamSpace."""
    reference(mocks, {"dev-gke": contract(name="dev-gke", target="gke")})
    ref = cluster_from_reference("acme/strata/dev", "dev-gke")
    space, handles = team_space("dev", "dev-gke", "checkout")
    TeamSpace(space, ref.provider, handles=handles_from(space.target, handles))
    settle()
    assert validate_objects(mocks, "1.34") == 6  # namespace, quota, limits, policy, two bindings
    ns = mocks.named("checkout-dev-gke-checkout-ns")
    for suffix in ("quota", "limits", "default-deny", "admin-binding", "view-binding"):
        obj = mocks.named(f"checkout-dev-gke-checkout-{suffix}")
        assert ns.urn in obj.dependencies
        assert obj.inputs["metadata"]["namespace"] == "checkout"
        assert obj.provider.startswith(mocks.named("dev-gke-k8s").urn)
    binding = mocks.named("checkout-dev-gke-checkout-admin-binding").inputs
    assert binding["subjects"][0]["name"] == "checkout-admins@example.com"


def test_a_teams_own_stack_is_held_to_the_ceilings(tmp_path: Path) -> None:
    from examples.team_space.team_space import HERE

    text = (HERE / "teams" / "checkout.yaml").read_text().replace('cpu: "4"', 'cpu: "40"')
    (tmp_path / "checkout.yaml").write_text(text)
    with pytest.raises(PlanErrors, match=r"checkout.yaml: environments.dev.quota.cpu: team checkout asks for 40 CPU"):
        team_space("dev", "dev-gke", "checkout", tmp_path)
