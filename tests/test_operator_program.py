"""The shipped management environment under Pulumi's mocks: the operator pack, then exactly one Stack per fleet
stack of `edge`, registered through the management cluster's provider, schema-valid, with no secret literal."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from stacks.environment import load_environment
from stacks.naming import stack_names
from tests.crd_schema import validate_custom_resource
from tests.mocks import kubernetes_objects
from tests.test_cluster_existing import KUBECONFIG
from tests.test_environments import run_stack

STACK_TYPE = "kubernetes:pulumi.com/v1:Stack"


@pytest.fixture(autouse=True)
def _management_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANAGEMENT_KUBECONFIG", KUBECONFIG)


def test_management_registers_one_stack_per_edge_stack_after_the_operator() -> None:
    mocks, built = run_stack("management", "management")
    assert list(built) == ["hub"]
    stacks = mocks.of_type(STACK_TYPE)
    names = [s.inputs["metadata"]["annotations"]["strata.dev/stack"] for s in stacks]
    assert sorted(names) == sorted(stack_names(load_environment("edge")).names)  # exactly one each
    provider = mocks.named("hub-k8s")
    operator = mocks.named("hub-pulumi-kubernetes-operator")
    namespace = mocks.named("hub-reconcile-edge-namespace-strata-edge")
    account = mocks.named("hub-reconcile-edge-serviceaccount-strata-workspace")
    for stack in stacks:
        assert stack.provider.startswith(provider.urn)
        assert {operator.urn, namespace.urn, account.urn} <= set(stack.dependencies)
        validate_custom_resource({k: v for k, v in stack.inputs.items() if v is not None})
    assert namespace.provider.startswith(provider.urn) and operator.urn in namespace.dependencies
    core = [o for o in kubernetes_objects(mocks) if not o["apiVersion"].startswith("pulumi.com/")]
    assert {o["kind"] for o in core} == {"Namespace", "ServiceAccount", "ClusterRoleBinding"}
    import kubernetes_validate

    for obj in core:
        kubernetes_validate.validate(obj, "1.34", strict=True)
    # no secret literal in any object registered for the fleet (the provider's kubeconfig is its own secret)
    registered = json.dumps([s.inputs for s in stacks] + core, default=str)
    assert "ZWRnZS1rZXk=" not in registered and "literal" not in registered
    assert '"key": "EDGE_SSH_KEY"' in registered


def test_a_broken_fleet_stops_the_management_program_before_anything_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    import yaml

    from stacks import environment, program

    folder = tmp_path / "config"
    shutil.copytree(environment.CONFIG_DIR, folder)
    doc = yaml.safe_load((folder / "Pulumi.edge.yaml").read_text())
    del doc["config"]["strata:reconcile"]["secrets"]
    (folder / "Pulumi.edge.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setattr(program, "CONFIG_DIR", folder)
    from tests.mocks import GraphMocks, install, settle
    from tests.test_environments import load_config

    mocks = GraphMocks()
    install(mocks, stack="management")
    pulumi.runtime.set_all_config(load_config("management"))
    with pytest.raises(pulumi.RunError, match=r'strata:reconcile"\.secrets: the stacks read 1 secret'):
        program.run("management", folder)
    settle()
    assert mocks.resources == []
