"""Secrets never reach a cloud API field that the cloud hands back in plain text.

EKS add-on ``configuration_values`` and AKS extension ``configuration_settings`` are both returned verbatim
to anyone who can describe the add-on; a Pulumi secret put there is encrypted in strata's state but not in
the cloud. EKS has no protected alternative, so such packs are refused when the catalogue loads (part of every
plan); AKS has ``configuration_protected_settings``, which is where secret values go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.clusters.contract import AksHandles
from components.packstack import PackStack, extension_settings, protected_keys
from packs.catalogue import load_catalogue
from packs.errors import PlanErrors
from packs.model import Target
from packs.resolve import ClusterRequest, Resolver
from tests.catalogue_builder import facts, in_memory, on_disk, pack, profile
from tests.mocks import GraphMocks, is_secret, resolve, settle
from tests.test_packstack import contract

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
PASSWORD = {"name": "token", "type": "string", "path": "auth.token", "description": "API token", "secret": True}


def test_a_secret_variable_in_an_eks_addon_pack_fails_the_catalogue_load(tmp_path: Path) -> None:
    addon = pack(
        "observability-agent",
        source={"kind": "managed", "service": "eks-addon", "name": "amazon-cloudwatch-observability"},
        namespace="amazon-cloudwatch",
        constraints={"targets": ["eks"]},
        variables=[{"name": "level", "type": "string", "path": "logLevel", "description": "l"}, PASSWORD],
    )
    packs_dir = on_disk(tmp_path, [addon], [profile("p", [{"pack": "observability-agent@1.0.0"}], targets=["eks"])])
    with pytest.raises(PlanErrors) as info:
        load_catalogue(packs_dir, root=tmp_path)
    (error,) = info.value.errors
    assert error.file == "packs/catalog/observability-agent/1.0.0/pack.yaml"
    assert error.path == "variables"
    assert error.message.startswith("variables[1] (token): an eks-addon pack cannot take secret variables")
    assert "plain text" in error.message and "helm pack" in error.message


def test_secret_variables_stay_allowed_where_the_values_are_protected(tmp_path: Path) -> None:
    helm = pack("app", variables=[PASSWORD])
    aks = pack(
        "ext",
        source={"kind": "managed", "service": "aks-extension", "name": "example.ext"},
        namespace="ext",
        constraints={"targets": ["aks"]},
        variables=[PASSWORD],
    )
    packs_dir = on_disk(tmp_path, [helm, aks], [])
    assert len(load_catalogue(packs_dir, root=tmp_path).packs) == 2


def test_protected_keys_come_from_the_plan_not_from_values() -> None:
    values = {"auth": {"token": "{{ secret.token }}", "user": "svc"}, "urls": ["a", "{{secret.other}}"], "n": 1}
    assert protected_keys(values) == {"auth.token", "urls"}
    assert protected_keys({"client": "{{ identity.azure_client_id }}"}) == frozenset()


def test_extension_settings_split(mocks: GraphMocks) -> None:
    plan_values = {"auth": {"token": "{{ secret.token }}"}, "replicas": 2}
    filled = pulumi.Output.secret({"auth": {"token": "t0k3n"}, "replicas": 2})
    settings, protected = extension_settings(plan_values, filled)
    assert resolve(settings) == {"replicas": "2"} and not is_secret(settings)
    assert protected is not None and resolve(protected) == {"auth.token": "t0k3n"} and is_secret(protected)
    plain, none = extension_settings({"replicas": 2}, {"replicas": 2})
    assert resolve(plain) == {"replicas": "2"} and none is None


def _aks_extension_plan() -> Any:
    ext = pack(
        "flux",
        source={"kind": "managed", "service": "aks-extension", "name": "microsoft.flux", "version": "1.14.0"},
        namespace="flux-system",
        requires=[],
        constraints={"targets": ["aks"]},
        overlays={"aks": {"helm-controller": {"enabled": True}}},
        variables=[{**PASSWORD, "path": "git.https.password"}],
    )
    catalogue = in_memory([ext], [profile("gitops", [{"pack": "flux@1.0.0", "expose": ["token"]}], targets=["aks"])])
    request = ClusterRequest(facts("a1", "aks"), ("gitops@1.0.0",), variables={"flux.token": {"env": "FLUX_TOKEN"}})
    return Resolver(catalogue).resolve(request)


def test_aks_extension_secrets_go_to_protected_settings(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX_TOKEN", "ghp-s3cr3t")
    aks = contract("a1", Target.AKS, None)
    object.__setattr__(
        aks,
        "handles",
        AksHandles(pulumi.Output.from_input("a1-aks"), pulumi.Output.from_input("a1-rg")),
    )
    PackStack("a1", aks, _aks_extension_plan())
    settle()
    ext = mocks.named("a1-flux", "azure-native:kubernetesconfiguration:Extension")
    # Ordinary settings stay readable (not secret) and never carry the token...
    assert ext.inputs["configurationSettings"] == {"helm-controller.enabled": "true"}
    # ...which reaches Azure only through the write-only protected settings, as a Pulumi secret.
    protected = ext.inputs["configurationProtectedSettings"]
    assert protected[SECRET_SIGNATURE] == "1b47061264138c4ac30d75fd1eb44270"
    assert protected["value"] == {"git.https.password": "ghp-s3cr3t"}
    assert "ghp-s3cr3t" not in json.dumps(ext.inputs["configurationSettings"])
