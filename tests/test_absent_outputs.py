"""Provider outputs that can come back empty never crash ``pulumi up`` with a traceback.

A cloud can return a resource without some outputs (a cluster still provisioning, a partial refresh, an
import). Outputs that only echo the spec (the Kubernetes version) fall back to the spec's value; outputs the
cluster cannot work without (endpoint, CA, OIDC issuer, credentials) stop the run with a
:class:`MissingOutputError` -- a ``pulumi.RunError``, reported as its message alone -- naming the cluster and
the output. Each case runs the real ``dev`` program under mocks whose cloud state lacks the output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.clusters.contract import MissingOutputError
from stacks.contract import ClusterOutputs, export_outputs
from tests import test_cluster_aks, test_cluster_eks, test_cluster_gke
from tests.mocks import GraphMocks, resolve
from tests.test_environments import EDGE_KEY, GRAFANA_PASSWORD, run_stack

EKS, AKS, GKE = test_cluster_eks.CLUSTER, test_cluster_aks.MC, test_cluster_gke.CLUSTER
State = Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SSH_KEY", EDGE_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)


def without(mocks: GraphMocks, typ: str, **changes: Any) -> None:
    """Change what the cloud returns for ``typ``: ``None`` removes an output from the resource's state."""
    original: State = mocks.state_for[typ]

    def state(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        return {**original(args), **changes}

    mocks.state_for[typ] = state


def run_dev(monkeypatch: pytest.MonkeyPatch, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The dev program with some resource types' state changed (after the usual cloud answers)."""
    real = test_cluster_gke.answer

    def answer_then_change(mocks: GraphMocks) -> None:
        real(mocks)  # the gke answers run last: every type's answers exist by now
        for typ, state in changes.items():
            without(mocks, typ, **state)

    monkeypatch.setattr(test_cluster_gke, "answer", answer_then_change)  # the module the dev program's run calls
    _, built = run_stack("dev", "dev")
    return built


def test_absent_kubernetes_versions_fall_back_to_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    built = run_dev(
        monkeypatch, {GKE: {"masterVersion": None}, EKS: {"version": None}, AKS: {"kubernetesVersion": None}}
    )
    for cluster in ("dev-eks", "dev-aks", "dev-gke"):
        contract, packs = built[cluster]
        assert resolve(contract.contract.kubernetes_version) == "1.34"
        exported = ClusterOutputs.model_validate(resolve(export_outputs(contract.contract, packs)))
        assert exported.kubernetes_version == "1.34" and exported.endpoint.startswith("https://")


BUILDERS: dict[str, tuple[Any, str]] = {
    "gke": (test_cluster_gke, GKE),
    "eks": (test_cluster_eks, EKS),
    "aks": (test_cluster_aks, AKS),
}


def build_without(mocks: GraphMocks, target: str, state: dict[str, Any], calls: dict[str, Any] | None = None) -> Any:
    module, typ = BUILDERS[target]
    module.answer(mocks)
    without(mocks, typ, **state)
    mocks.calls.update(calls or {})
    spec = module.make_spec()
    cls = {"gke": "GkeCluster", "eks": "EksCluster", "aks": "AksCluster"}[target]
    extra: dict[str, Any] = {} if target == "gke" else {"tags": {"owner": "ops"}}
    return getattr(module, cls)(spec.name, spec, settings={}, protect=False, **extra)


@pytest.mark.parametrize(
    ("target", "state", "output"),
    [
        ("gke", {"endpoint": None}, "API server endpoint"),
        ("gke", {"masterAuth": None}, "cluster CA certificate (master_auth.cluster_ca_certificate)"),
        ("eks", {"endpoint": None}, "API server endpoint"),
        ("eks", {"certificateAuthority": None}, "certificate authority data (certificate_authority.data)"),
        ("eks", {"identities": None}, "OIDC issuer (identities[].oidcs[].issuer)"),
        ("aks", {"fqdn": None, "privateFQDN": None}, "API server address (fqdn or private_fqdn)"),
        ("aks", {"oidcIssuerProfile": None}, "OIDC issuer URL (oidc_issuer_profile.issuer_url)"),
    ],
)
def test_an_absent_essential_output_stops_the_run_with_a_clear_message(
    mocks: GraphMocks, target: str, state: dict[str, Any], output: str
) -> None:
    cluster = build_without(mocks, target, state)
    contract = cluster.contract
    everything = pulumi.Output.all(contract.endpoint, contract.kubeconfig, contract.oidc_issuer)
    with pytest.raises(MissingOutputError) as info:
        resolve(everything)
    assert isinstance(info.value, pulumi.RunError)  # reported as its message, without a traceback
    assert str(info.value).startswith(f"cluster {contract.name} ({target}): the cloud returned no {output}; ")
    assert "pulumi refresh" in str(info.value)


def test_absent_aks_credentials_stop_the_run_with_a_clear_message(mocks: GraphMocks) -> None:
    no_credential: dict[str, Callable[[pulumi.runtime.MockCallArgs], dict[str, Any]]] = {
        test_cluster_aks.CREDENTIALS: lambda args: {"kubeconfigs": []}
    }
    cluster = build_without(mocks, "aks", {}, calls=no_credential)
    with pytest.raises(MissingOutputError, match=r"^cluster prod-weu \(aks\): the cloud returned no user credential"):
        resolve(cluster.contract.kubeconfig)


def test_an_export_with_an_empty_field_names_the_cluster_and_the_field(mocks: GraphMocks) -> None:
    from components.clusters.contract import ClusterContract
    from packs.model import Target
    from tests.test_packstack import contract as make_contract

    base = make_contract("c1", Target.EDGE, None)
    broken = ClusterContract(**{**base.__dict__, "endpoint": pulumi.Output.from_input(None)})

    class Packs:
        profiles: list[str] = []
        packs: dict[str, Any] = {}

    with pytest.raises(pulumi.RunError) as info:
        resolve(export_outputs(broken, Packs()))  # type: ignore[arg-type]  # a stand-in with the fields it reads
    assert str(info.value).startswith(
        "cluster c1 (edge): cannot export its contract, the cloud returned no usable endpoint"
    )
