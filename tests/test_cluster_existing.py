"""ExistingCluster (adopt a kubeconfig, or render manifests) and reading SecretRefs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.rpc import is_rpc_secret

from components.clusters import build_cluster
from components.clusters.existing import ExistingCluster, kubeconfig_endpoint, render_directory, validate
from components.clusters.secrets import describe, read_secret, read_secret_value
from components.clusters.spec import ExistingClusterSpec, SecretRef
from packs.model import Target
from tests.mocks import GraphMocks, is_secret, resolve, settle

PROVIDER = "pulumi:providers:kubernetes"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-token"
KUBECONFIG = textwrap.dedent(
    f"""\
    apiVersion: v1
    kind: Config
    clusters:
    - name: prod
      cluster:
        server: https://prod.example.net:6443
        certificate-authority-data: Q0E=
    - name: staging
      cluster:
        server: https://10.1.2.3:443
    contexts:
    - name: prod-admin
      context: {{cluster: prod, user: admin}}
    - name: staging-admin
      context: {{cluster: staging, user: admin}}
    current-context: prod-admin
    users:
    - name: admin
      user: {{token: {TOKEN}}}
    """
)


def existing_spec(**overrides: Any) -> ExistingClusterSpec:
    doc: dict[str, Any] = {
        "target": "existing",
        "name": "local",
        "kubernetes_version": "1.31",
        "profiles": ["developer-essentials@1.0.0"],
    }
    doc.update(overrides)
    return ExistingClusterSpec.model_validate(doc)


def build(spec: ExistingClusterSpec, protect: bool = False) -> ExistingCluster:
    cluster = ExistingCluster(spec.name, spec, settings={}, protect=protect, tags={"owner": "platform"})
    settle()
    return cluster


# ------------------------------------------------------------------------------------- pure functions


def test_endpoint_of_the_current_context() -> None:
    assert kubeconfig_endpoint(KUBECONFIG) == "https://prod.example.net:6443"


def test_endpoint_of_a_named_context() -> None:
    assert kubeconfig_endpoint(KUBECONFIG, "staging-admin") == "https://10.1.2.3:443"


@pytest.mark.parametrize(
    ("text", "context", "message"),
    [
        (
            KUBECONFIG,
            "dev",
            r"context: 'dev' is not in file ~/.kube/config \(contexts: \['prod-admin', 'staging-admin'\]\)",
        ),
        (KUBECONFIG.replace("current-context: prod-admin\n", ""), None, r"kubeconfig: .* has no current-context"),
        (
            # a nameless context cannot be chosen and is not listed
            KUBECONFIG.replace("current-context: prod-admin\n", "").replace("contexts:\n", "contexts:\n- {}\n"),
            None,
            r"has no current-context; set `context` to one of \['prod-admin', 'staging-admin'\]",
        ),
        (KUBECONFIG.replace("current-context: prod-admin", "current-context: gone"), None, r"current-context 'gone'"),
        (KUBECONFIG.replace("cluster: staging,", "cluster: nowhere,"), "staging-admin", r"names cluster 'nowhere'"),
        (
            KUBECONFIG.replace("server: https://10.1.2.3:443", "insecure-skip-tls-verify: true"),
            "staging-admin",
            r"kubeconfig: cluster 'staging' of file ~/.kube/config has no server",
        ),
        ("clusters: [unclosed", None, r"kubeconfig: file ~/.kube/config is not valid YAML"),
        ("just text", None, r"kubeconfig: file ~/.kube/config is not a kubeconfig"),
        ("kind: Pod\n", None, r"kubeconfig: file ~/.kube/config is not a kubeconfig"),
    ],
)
def test_bad_kubeconfigs_are_named(text: str, context: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kubeconfig_endpoint(text, context, "file ~/.kube/config")


def test_the_token_never_appears_in_an_error() -> None:
    with pytest.raises(ValueError) as info:
        kubeconfig_endpoint(KUBECONFIG, "dev")
    assert TOKEN not in str(info.value)


def test_render_directory() -> None:
    assert render_directory(existing_spec()) == "out/local"
    assert (
        render_directory(existing_spec(render_dir="/srv/gitops/{cluster}/manifests")) == "/srv/gitops/local/manifests"
    )
    assert render_directory(existing_spec(render_dir="rendered")) == "rendered"


@pytest.mark.parametrize(
    ("render_dir", "message"),
    [
        ("out/{name}", r"render_dir: 'out/\{name\}' is not a valid template .* the only placeholder is \{cluster\}"),
        ("out/{}", r"render_dir: 'out/\{\}' is not a valid template"),
        ("out/{cluster", r"render_dir: 'out/\{cluster' is not a valid template"),
        ("  ", r"render_dir: is empty"),
    ],
)
def test_bad_render_dirs_are_named(render_dir: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(existing_spec(render_dir=render_dir), {})


def test_context_without_kubeconfig_is_refused() -> None:
    with pytest.raises(ValueError, match=r"context: is set but kubeconfig is absent"):
        ExistingCluster.validate(existing_spec(context="prod-admin"), {})


def test_a_render_dir_is_not_checked_when_adopting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG_TEXT", KUBECONFIG)
    validate(existing_spec(kubeconfig={"env": "KUBECONFIG_TEXT"}, render_dir="{unused}"), {})


# ---------------------------------------------------------------------------------------- secret refs


def test_secret_from_env(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_TEST_SECRET", "s3cret")
    out = read_secret(SecretRef(env="STRATA_TEST_SECRET"), "ssh_key")
    assert is_secret(out) and resolve(out) == "s3cret"


def test_secret_from_file_with_home_expansion(
    mocks: GraphMocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "kubeconfig").write_text(KUBECONFIG, encoding="utf-8")
    out = read_secret(SecretRef(file="~/kubeconfig"), "kubeconfig")
    assert is_secret(out) and resolve(out) == KUBECONFIG


def test_secret_from_config_with_and_without_namespace(mocks: GraphMocks) -> None:
    pulumi.runtime.set_all_config({"strata:edgeSshKey": "from-config", "other:key": "x"}, ["strata:edgeSshKey"])
    namespaced = read_secret(SecretRef(config="strata:edgeSshKey"), "ssh_key")
    assert is_secret(namespaced) and resolve(namespaced) == "from-config"
    # A bare key belongs to the project ("strata" under the test mocks), as in `pulumi config set`.
    assert read_secret_value(SecretRef(config="edgeSshKey"), "ssh_key") == "from-config"
    assert read_secret_value(SecretRef(config="other:key"), "ssh_key") == "x"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (SecretRef(env="STRATA_TEST_UNSET"), r"ssh_key: environment variable STRATA_TEST_UNSET is not set"),
        (SecretRef(env="STRATA_TEST_EMPTY"), r"ssh_key: environment variable STRATA_TEST_EMPTY is empty"),
        (SecretRef(file="/nonexistent/strata/key"), r"ssh_key: file /nonexistent/strata/key does not exist"),
        (SecretRef(config="strata:missing"), r"ssh_key: Pulumi config key strata:missing is not set in this stack"),
        (SecretRef(config=":key"), r"ssh_key: Pulumi config key :key is not a valid config key"),
        (SecretRef(config="strata:"), r"ssh_key: Pulumi config key strata: is not a valid config key"),
    ],
)
def test_missing_secrets_name_the_ref(
    mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch, ref: SecretRef, message: str
) -> None:
    monkeypatch.delenv("STRATA_TEST_UNSET", raising=False)
    monkeypatch.setenv("STRATA_TEST_EMPTY", "  \n")
    with pytest.raises(ValueError, match=message):
        read_secret(ref, "ssh_key")


def test_unreadable_files_are_named(mocks: GraphMocks, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"kubeconfig: file .* is a directory, not a file"):
        read_secret_value(SecretRef(file=str(tmp_path)), "kubeconfig")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"kubeconfig: file .*binary is not UTF-8 text"):
        read_secret_value(SecretRef(file=str(binary)), "kubeconfig")


def test_describe_never_shows_a_value() -> None:
    assert describe(SecretRef(env="A")) == "environment variable A"
    assert describe(SecretRef(file="~/k")) == "file ~/k"
    assert describe(SecretRef(config="strata:k")) == "Pulumi config key strata:k"


# ------------------------------------------------------------------------------------------ adopt mode


def test_adopt_from_a_kubeconfig(mocks: GraphMocks, tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG, encoding="utf-8")
    cluster = build(existing_spec(name="prod", kubeconfig={"file": str(path)}, context="prod-admin"))
    component = mocks.named("prod", "strata:clusters:ExistingCluster")
    assert mocks.types() == {"strata:clusters:ExistingCluster", PROVIDER}
    provider = mocks.named("prod-k8s")
    assert provider.parent == component.urn
    assert provider.inputs["context"] == "prod-admin"
    assert provider.inputs["clusterIdentifier"] == "strata/existing/prod"
    assert TOKEN not in provider.inputs["clusterIdentifier"]
    assert SECRET_SIG in str(provider.inputs["kubeconfig"]), "the provider's kubeconfig is a secret"
    assert "renderYamlToDirectory" not in provider.inputs
    assert is_secret(cluster.kubeconfig) and resolve(cluster.kubeconfig) == KUBECONFIG
    assert not is_secret(cluster.endpoint)
    assert resolve(cluster.endpoint) == "https://prod.example.net:6443"


def test_adopt_uses_the_named_context_for_the_endpoint(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_TEST_KUBECONFIG", KUBECONFIG)
    cluster = build(existing_spec(name="stg", kubeconfig={"env": "STRATA_TEST_KUBECONFIG"}, context="staging-admin"))
    assert resolve(cluster.endpoint) == "https://10.1.2.3:443"


def test_adopt_from_config_key(mocks: GraphMocks) -> None:
    pulumi.runtime.set_all_config({"strata:prodKubeconfig": KUBECONFIG}, ["strata:prodKubeconfig"])
    cluster = build(existing_spec(name="prod", kubeconfig={"config": "strata:prodKubeconfig"}))
    assert is_secret(cluster.kubeconfig)
    assert resolve(cluster.endpoint) == "https://prod.example.net:6443"


def test_adopt_errors_come_before_any_resource(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATA_TEST_KUBECONFIG", raising=False)
    spec = existing_spec(kubeconfig={"env": "STRATA_TEST_KUBECONFIG"})
    with pytest.raises(ValueError, match=r"kubeconfig: environment variable STRATA_TEST_KUBECONFIG is not set"):
        ExistingCluster(spec.name, spec)
    monkeypatch.setenv("STRATA_TEST_KUBECONFIG", KUBECONFIG)
    spec = existing_spec(kubeconfig={"env": "STRATA_TEST_KUBECONFIG"}, context="nope")
    with pytest.raises(ValueError, match=r"context: 'nope' is not in environment variable STRATA_TEST_KUBECONFIG"):
        ExistingCluster(spec.name, spec)
    settle()
    assert mocks.resources == []


# ----------------------------------------------------------------------------------------- render mode


def test_render_mode_writes_yaml_to_the_directory(mocks: GraphMocks) -> None:
    cluster = build(existing_spec(render_dir="out/{cluster}"))
    provider = mocks.named("local-k8s")
    assert provider.inputs["renderYamlToDirectory"] == "out/local"
    assert provider.inputs["clusterIdentifier"] == "strata/existing/local"
    assert "kubeconfig" not in provider.inputs and "context" not in provider.inputs
    assert resolve(cluster.endpoint) == "render://out/local"
    assert is_secret(cluster.kubeconfig) and resolve(cluster.kubeconfig) == ""


def test_contract(mocks: GraphMocks) -> None:
    spec = existing_spec(nodes=3, cpu_millicores=12000, capabilities=["cni", "storage-class", "ingress"])
    contract = build(spec).contract
    assert contract.target is Target.EXISTING and contract.name == "local"
    assert resolve(contract.kubernetes_version) == "1.31"
    assert contract.storage_class is None and contract.load_balancer is True
    assert contract.workload_identity is None and contract.oidc_issuer is None
    assert contract.handles is None and list(contract.ready) == []
    assert contract.facts.nodes == 3 and "ingress" in contract.facts.capabilities


def test_nothing_is_protected_even_in_production(mocks: GraphMocks) -> None:
    build(existing_spec(), protect=True)
    assert not any(r.protect for r in mocks.resources)


def test_build_cluster_uses_the_component(mocks: GraphMocks) -> None:
    cluster = build_cluster(existing_spec(name="local"), settings={}, protect=False)
    settle()
    assert isinstance(cluster, ExistingCluster)
    assert not is_rpc_secret(mocks.named("local-k8s").inputs["renderYamlToDirectory"])
