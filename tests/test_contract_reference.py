"""Stack references between teams: the versioned contract, the consumer helper, the example team space."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.clusters.contract import AksHandles, EksHandles, GkeHandles
from components.teams import TeamSpace
from examples.team_space.team_space import team_handles, team_space
from packs.errors import PlanErrors
from stacks.contract import (
    SCHEMA_VERSION,
    ClusterOutputs,
    ContractError,
    cluster_from_reference,
    export_outputs,
    parse_outputs,
)
from tests import test_cluster_aks
from tests.mocks import GraphMocks, is_secret, resolve, settle, validate_objects
from tests.test_environments import EDGE_KEY, GRAFANA_PASSWORD, run_stack

ENTRA = "6f1c2b7e-3d4a-4c59-9e8f-0a1b2c3d4e5f"


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
        "handles": {"kind": "eks", "cluster_name": "dev-eks", "region": "eu-west-1"},
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
    with pytest.raises(
        ContractError, match=r"stack acme/strata/dev, cluster dev-eks: .*schema_version 99 .*reads 1, 2"
    ):
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
    # A version 1 contract (no handles): a GKE team's access is Kubernetes RBAC and needs none.
    old = {k: v for k, v in contract(name="dev-gke", target="gke", schema_version=1).items() if k != "handles"}
    reference(mocks, {"dev-gke": old})
    ref = cluster_from_reference("acme/strata/dev", "dev-gke")
    space = team_space("dev", "dev-gke", "checkout")
    handles = team_handles(space, ref)
    assert handles is None
    TeamSpace(space, ref.provider, handles=handles)
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


def test_the_contract_exports_each_clouds_handles(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the dev program exports carries each cloud cluster's handles, as the cluster built them."""
    monkeypatch.setenv("EDGE_SSH_KEY", EDGE_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)
    _, built = run_stack("dev", "dev")
    kinds: dict[str, tuple[type[EksHandles | AksHandles | GkeHandles], str]] = {
        "dev-eks": (EksHandles, "eks"),
        "dev-aks": (AksHandles, "aks"),
        "dev-gke": (GkeHandles, "gke"),
    }
    for name, (cls, kind) in kinds.items():
        cluster, packs = built[name]
        handles = cluster.contract.handles
        assert isinstance(handles, cls)
        raw = resolve(export_outputs(cluster.contract, packs))
        expected = {f.name: resolve(getattr(handles, f.name)) for f in dataclasses.fields(handles)}
        assert raw["handles"] == {"kind": kind, **expected}
        assert all(isinstance(v, str) and v for v in expected.values())
        assert parse_outputs(raw, "dev", name).handles == ClusterOutputs.model_validate(raw).handles


def aks_team(tmp_path: Path) -> Path:
    """A team file granting an Entra group access on dev-aks (Azure RBAC: needs the cluster's resource group)."""
    doc = {
        "team": "checkout",
        "environments": {
            "dev": {
                "clusters": ["dev-aks"],
                "namespaces": [{"name": "checkout"}],
                "quota": {"cpu": "2", "memory": "4Gi"},
                "groups": {"aks": {"admin": ENTRA}},
            }
        },
    }
    (tmp_path / "checkout.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def aks_contract(**extra: Any) -> dict[str, Any]:
    handles = {"kind": "aks", "cluster_name": "dev-aks-3f2a", "resource_group_name": "dev-aks-rg7c1d"}
    return contract(name="dev-aks", target="aks", handles=handles, **extra)


def test_a_teams_own_stack_takes_the_cloud_handles_from_the_contract(mocks: GraphMocks, tmp_path: Path) -> None:
    """A generated resource group reaches the team's role assignments with no hand-copied config."""
    test_cluster_aks.answer(mocks)  # the client config call
    reference(mocks, {"dev-aks": aks_contract()})
    ref = cluster_from_reference("acme/strata/dev", "dev-aks")
    space = team_space("dev", "dev-aks", "checkout", aks_team(tmp_path))
    assert space.access.kind == "azure-rbac"
    handles = team_handles(space, ref)
    assert isinstance(handles, AksHandles)
    assert not is_secret(handles.resource_group_name)  # shown in a preview: a cloud name is no secret
    TeamSpace(space, ref.provider, handles=handles)
    settle()
    (assignment,) = mocks.of_type("azure-native:authorization:RoleAssignment")
    scope = assignment.inputs["scope"]
    assert "/resourceGroups/dev-aks-rg7c1d/providers/Microsoft.ContainerService/managedClusters/dev-aks-3f2a/" in scope


def test_an_old_contract_without_handles_is_a_clear_error_only_when_needed(mocks: GraphMocks, tmp_path: Path) -> None:
    old = {k: v for k, v in aks_contract(schema_version=1).items() if k != "handles"}
    assert parse_outputs(old, "acme/strata/dev", "dev-aks").handles is None  # old stacks still parse
    reference(mocks, {"dev-aks": old})
    ref = cluster_from_reference("acme/strata/dev", "dev-aks")
    space = team_space("dev", "dev-aks", "checkout", aks_team(tmp_path))
    handles = team_handles(space, ref)
    assert isinstance(handles, AksHandles)
    message = (
        r"stack acme/strata/dev, cluster dev-aks: the cluster contract \(schema_version 1\) carries no aks cloud "
        r"handles; run `pulumi up` on the platform stack .* or set them in this stack's config \(clusterHandles\)"
    )
    with pytest.raises(ContractError, match=message):
        resolve(handles.resource_group_name)
    # The documented override serves until the platform stack is deployed again.
    given = team_handles(space, ref, {"cluster_name": "dev-aks", "resource_group_name": "rg-by-hand"})
    assert isinstance(given, AksHandles) and resolve(given.resource_group_name) == "rg-by-hand"


def test_a_contract_of_another_cloud_is_named(mocks: GraphMocks, tmp_path: Path) -> None:
    reference(mocks, {"dev-aks": contract(name="dev-aks")})  # an EKS cluster under the name the plan calls AKS
    space = team_space("dev", "dev-aks", "checkout", aks_team(tmp_path))
    handles = team_handles(space, cluster_from_reference("acme/strata/dev", "dev-aks"))
    assert isinstance(handles, AksHandles)
    with pytest.raises(ContractError, match="cluster dev-aks: the cluster is eks, not aks as planned here"):
        resolve(handles.cluster_name)


def gke_team(folder: Path, team: str, namespace: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "team": team,
        "environments": {
            "dev": {
                "clusters": ["dev-gke"],
                "namespaces": [{"name": namespace}],
                "quota": {"cpu": "1", "memory": "1Gi"},
                "groups": {"gke": {"admin": f"{team}@example.com"}},
            }
        },
    }
    (folder / f"{team}.yaml").write_text(yaml.safe_dump(doc))
    return folder


def test_a_teams_own_file_is_checked_with_the_platforms_shared_teams(tmp_path: Path) -> None:
    """A namespace the platform's environment stack already gives another team stops the team's stack, naming both
    files, as `strata plan` would for two files in one folder."""
    shared = gke_team(tmp_path / "shared", "orders", "checkout")
    own = gke_team(tmp_path / "own", "checkout", "checkout")
    with pytest.raises(PlanErrors) as caught:
        team_space("dev", "dev-gke", "checkout", own, platform_teams_dir=shared)
    (error,) = caught.value.errors
    assert error.file.endswith("own/checkout.yaml") and error.path == "environments.dev.namespaces[0].name"
    assert "namespace checkout on cluster dev-gke is already claimed at" in error.message
    assert "shared/orders.yaml" in error.message
    # Another namespace: both teams land side by side.
    gke_team(tmp_path / "shared", "orders", "orders")
    assert team_space("dev", "dev-gke", "checkout", own, platform_teams_dir=shared).team == "checkout"


def test_a_teams_file_also_in_the_shared_folder_is_named(tmp_path: Path) -> None:
    """Both the platform's environment stack and the team's stack would build the space: one file must go."""
    shared = gke_team(tmp_path / "shared", "checkout", "checkout")
    own = gke_team(tmp_path / "own", "checkout", "checkout")
    with pytest.raises(PlanErrors, match=r"own/checkout.yaml: team: team checkout is also defined in .*shared/check"):
        team_space("dev", "dev-gke", "checkout", own, platform_teams_dir=shared)
    # The same folder given twice is one folder, not a duplicate.
    assert team_space("dev", "dev-gke", "checkout", own, platform_teams_dir=own).team == "checkout"
