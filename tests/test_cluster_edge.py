"""EdgeCluster: k3s over SSH -- command builders, validation, the resource graph and its secrets."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.clusters import build_cluster
from components.clusters.edge import (
    API_PORT,
    IMAGES_DIR,
    KUBECONFIG_PATH,
    NODE_TOKEN_PATH,
    EdgeCluster,
    api_url,
    as_root,
    disabled_components,
    install_command,
    install_script,
    node_config,
    parse_token,
    read_file_command,
    render_config,
    rewrite_kubeconfig,
    uninstall_command,
    validate,
)
from components.clusters.spec import EdgeAirgap, EdgeClusterSpec, EdgeHost, EdgeSettings
from packs.model import Target
from tests.mocks import GraphMocks, RecordingMonitor, Registration, is_secret, resolve, settle

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "command:remote:Command"
PROVIDER = "pulumi:providers:kubernetes"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
TOKEN = "K10deadbeef::server:0123456789abcdef"
K3S_YAML = textwrap.dedent(
    """\
    apiVersion: v1
    clusters:
    - cluster:
        certificate-authority-data: Q0E=
        server: https://127.0.0.1:6443
      name: default
    contexts:
    - context:
        cluster: default
        user: default
      name: default
    current-context: default
    kind: Config
    preferences: {}
    users:
    - name: default
      user:
        client-certificate-data: Q0VSVA==
        client-key-data: S0VZ
    """
)


# ----------------------------------------------------------------------------------------------- helpers


def edge_spec(**overrides: Any) -> EdgeClusterSpec:
    doc: dict[str, Any] = {
        "target": "edge",
        "name": "fr-00001",
        "kubernetes_version": "1.31",
        "profiles": ["edge-minimal@1.0.0"],
        "region": "eu-west",
        "site": "fr-00001",
        "hosts": [{"name": "node-a", "address": "10.0.0.2"}],
        "ssh_key": {"env": "STRATA_TEST_SSH_KEY"},
    }
    doc.update(overrides)
    return EdgeClusterSpec.model_validate(doc)


def three_hosts() -> list[dict[str, Any]]:
    return [
        {"name": "node-a", "address": "10.0.0.2"},
        {"name": "node-b", "address": "10.0.0.3", "role": "agent", "user": "ops", "port": 2222},
        {"name": "node-c", "address": "edge-c.example.net", "role": "agent"},
    ]


def ha_hosts() -> list[dict[str, Any]]:
    return [
        {"name": "node-a", "address": "10.0.0.2"},
        {"name": "node-b", "address": "10.0.0.3"},
        {"name": "node-c", "address": "10.0.0.4"},
        {"name": "node-d", "address": "10.0.0.5", "role": "agent"},
    ]


def answer_reads(mocks: GraphMocks) -> None:
    """What the hosts print: the kubeconfig and the node token, for the read-back commands."""

    def state(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        create = str(args.inputs.get("create", ""))
        if KUBECONFIG_PATH in create:
            return {"stdout": K3S_YAML, "stderr": ""}
        if NODE_TOKEN_PATH in create:
            return {"stdout": TOKEN + "\n", "stderr": ""}
        return {"stdout": "", "stderr": ""}

    mocks.state_for[COMMAND] = state


class SecretOutputsMonitor(RecordingMonitor):
    """Also records ``additionalSecretOutputs``, which the engine (not the SDK) applies."""

    def __init__(self, mocks: GraphMocks) -> None:
        super().__init__(mocks)
        self.secret_outputs: dict[str, list[str]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.secret_outputs[request.name] = list(request.additionalSecretOutputs)
        return super().RegisterResource(request)


@pytest.fixture
def edge(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> GraphMocks:
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", SSH_KEY)
    answer_reads(mocks)
    return mocks


def build(spec: EdgeClusterSpec, settings: dict[str, Any] | None = None, protect: bool = False) -> EdgeCluster:
    cluster = EdgeCluster(spec.name, spec, settings=settings or {}, protect=protect, tags={"owner": "retail"})
    settle()
    return cluster


def commands(mocks: GraphMocks) -> dict[str, Registration]:
    return {r.name: r for r in mocks.of_type(COMMAND)}


def plain(value: Any) -> Any:
    return unwrap_rpc_secret(value) if is_rpc_secret(value) else value


def inner_script(command: str) -> str:
    """The script an ``as_root`` command runs (the argument after ``sh -c``)."""
    words = shlex.split(command)
    assert words[-3:-1] == ["sh", "-c"]
    return words[-1]


# ------------------------------------------------------------------------------------ command builders


def test_online_install_script_pins_the_version_and_writes_config_from_stdin() -> None:
    script = install_script("server", "v1.31.4+k3s1")
    assert "curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v1.31.4+k3s1 sh -s - server" in script
    assert "(umask 077 && cat > /etc/rancher/k3s/config.yaml.strata)" in script
    assert "mv -f /etc/rancher/k3s/config.yaml.strata /etc/rancher/k3s/config.yaml" in script
    assert script.startswith("set -eu\n")
    assert "INSTALL_K3S_SKIP_DOWNLOAD" not in script
    assert install_script("agent", "v1.31.4+k3s1").rstrip().endswith("sh -s - agent")


def test_airgap_install_script_uses_host_artifacts_and_checks_the_binary_version() -> None:
    airgap = EdgeAirgap()
    script = install_script("server", "v1.31.4+k3s1", airgap)
    assert "curl" not in script
    assert "INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_VERSION=v1.31.4+k3s1 sh /opt/strata/install.sh server" in script
    assert "install -m 0755 /opt/strata/k3s /usr/local/bin/k3s" in script
    assert "grep -qF 'k3s version v1.31.4+k3s1 '" in script
    for path in (airgap.binary, airgap.install_script, airgap.images):
        assert f"[ -f {path} ] ||" in script
    # The default tarball is already where k3s imports images from: no copy.
    assert "cp -f" not in script
    elsewhere = install_script("agent", "v1.31.4+k3s1", EdgeAirgap(images="/srv/k3s/images.tar.zst"))
    assert f"cp -f /srv/k3s/images.tar.zst {IMAGES_DIR}/" in elsewhere
    assert elsewhere.rstrip().endswith("sh /opt/strata/install.sh agent")


@pytest.mark.parametrize("airgap", [None, EdgeAirgap(), EdgeAirgap(binary="/opt/a b/$(reboot)/k3s")])
def test_install_scripts_are_valid_sh(airgap: EdgeAirgap | None) -> None:
    for role in ("server", "agent"):
        host = EdgeHost(name="n", address="10.0.0.2", role=role)
        result = subprocess.run(["sh", "-n", "-c", inner_script(install_command(host, "v1.31.4+k3s1", airgap))])
        assert result.returncode == 0


def test_paths_from_the_environment_cannot_inject_shell() -> None:
    hostile = "/opt/x;$(reboot)`id`/k3s"
    script = install_script("server", "v1.31.4+k3s1", EdgeAirgap(binary=hostile))
    install_line = next(line for line in script.splitlines() if line.startswith("install "))
    assert shlex.split(install_line) == ["install", "-m", "0755", hostile, "/usr/local/bin/k3s"]
    # The whole script is one word of the outer command, whatever it contains.
    assert shlex.split(as_root(script, "ops")) == ["sudo", "-n", "sh", "-c", script]
    assert shlex.split(as_root("echo 'quoted' \"twice\"", "root")) == ["sh", "-c", "echo 'quoted' \"twice\""]


def test_root_runs_directly_and_other_users_through_sudo() -> None:
    root = EdgeHost(name="n", address="10.0.0.2")
    ops = EdgeHost(name="n", address="10.0.0.2", user="ops", role="agent")
    assert install_command(root, "v1.31.4+k3s1").startswith("sh -c ")
    assert install_command(ops, "v1.31.4+k3s1").startswith("sudo -n sh -c ")
    assert read_file_command(NODE_TOKEN_PATH, "root") == f"sh -c 'cat {NODE_TOKEN_PATH}'"
    assert read_file_command(KUBECONFIG_PATH, "ops") == f"sudo -n sh -c 'cat {KUBECONFIG_PATH}'"


def test_uninstall_uses_the_role_script_and_succeeds_when_k3s_is_gone() -> None:
    server = EdgeHost(name="n", address="10.0.0.2")
    agent = EdgeHost(name="n", address="10.0.0.2", role="agent")
    assert "/usr/local/bin/k3s-uninstall.sh" in uninstall_command(server)
    assert "/usr/local/bin/k3s-agent-uninstall.sh" in uninstall_command(agent)
    assert "k3s-uninstall.sh" not in uninstall_command(agent)
    # Nothing installed on this machine: the delete command must still exit 0 (a re-run destroy succeeds).
    assert subprocess.run(uninstall_command(server), shell=True).returncode == 0


def test_server_config_carries_the_settings_and_is_deterministic() -> None:
    settings = EdgeSettings.model_validate(
        {
            "kubernetes": {"disable": ["traefik", "servicelb"], "flannel_backend": "none"},
            "storage": {"local_path": False},
        }
    )
    host = EdgeHost(name="node-a", address="10.0.0.2")
    config = node_config(host, settings, tls_sans=["10.0.0.2"])
    assert config == {
        "node-name": "node-a",
        "write-kubeconfig-mode": "0600",
        "tls-san": ["10.0.0.2"],
        "cluster-cidr": "10.42.0.0/16",
        "service-cidr": "10.43.0.0/16",
        "flannel-backend": "none",
        "disable-network-policy": True,
        "disable": ["traefik", "servicelb", "local-storage"],
    }
    text = render_config(config)
    assert yaml.safe_load(text) == config
    assert text == render_config(node_config(host, settings, tls_sans=["10.0.0.2"]))
    assert text.splitlines()[0] == "node-name: node-a"


def test_joining_configs_name_the_first_server_and_the_token() -> None:
    settings = EdgeSettings()
    server = node_config(
        EdgeHost(name="b", address="10.0.0.3"), settings, server_url="https://10.0.0.2:6443", token=TOKEN
    )
    assert server["server"] == "https://10.0.0.2:6443" and server["token"] == TOKEN
    assert server["cluster-cidr"] == "10.42.0.0/16" and "cluster-init" not in server
    agent = node_config(
        EdgeHost(name="c", address="10.0.0.4", role="agent"), settings, server_url="https://10.0.0.2:6443", token=TOKEN
    )
    assert agent == {"node-name": "c", "server": "https://10.0.0.2:6443", "token": TOKEN}
    first = node_config(EdgeHost(name="a", address="10.0.0.2"), settings, cluster_init=True)
    assert first["cluster-init"] is True and "token" not in first and "server" not in first


def test_disabled_components_add_local_storage_once() -> None:
    assert disabled_components(EdgeSettings()) == ("traefik",)
    off = EdgeSettings.model_validate({"storage": {"local_path": False}})
    assert disabled_components(off) == ("traefik", "local-storage")


def test_api_url_brackets_ipv6() -> None:
    assert api_url("10.0.0.2") == f"https://10.0.0.2:{API_PORT}"
    assert api_url("fd00::2") == "https://[fd00::2]:6443"
    assert api_url("edge-a.example.net") == "https://edge-a.example.net:6443"


def test_kubeconfig_is_pointed_at_the_first_host_and_renamed() -> None:
    doc = yaml.safe_load(rewrite_kubeconfig(K3S_YAML, "10.0.0.2", "fr-00001"))
    assert doc["clusters"][0] == {
        "cluster": {"certificate-authority-data": "Q0E=", "server": "https://10.0.0.2:6443"},
        "name": "fr-00001",
    }
    assert doc["contexts"][0] == {"context": {"cluster": "fr-00001", "user": "fr-00001"}, "name": "fr-00001"}
    assert doc["current-context"] == "fr-00001"
    assert doc["users"][0]["name"] == "fr-00001"
    assert doc["users"][0]["user"]["client-key-data"] == "S0VZ"
    v6 = yaml.safe_load(rewrite_kubeconfig(K3S_YAML.replace("127.0.0.1", "[::1]"), "fd00::2", "x"))
    assert v6["clusters"][0]["cluster"]["server"] == "https://[fd00::2]:6443"
    remote_server = K3S_YAML.replace("127.0.0.1", "10.9.9.9")
    assert "https://10.9.9.9:6443" in rewrite_kubeconfig(remote_server, "10.0.0.2", "x")
    assert rewrite_kubeconfig(K3S_YAML, "10.0.0.2", "x") == rewrite_kubeconfig(K3S_YAML, "10.0.0.2", "x")


@pytest.mark.parametrize("text", ["", "not: a kubeconfig\n", "- a list\n"])
def test_a_non_kubeconfig_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"/etc/rancher/k3s/k3s.yaml on 10.0.0.2 is not a kubeconfig"):
        rewrite_kubeconfig(text, "10.0.0.2", "x")


def test_the_node_token_is_stripped_and_never_empty() -> None:
    assert parse_token(TOKEN + "\n", "10.0.0.2") == TOKEN
    for empty in (None, "", " \n"):
        with pytest.raises(ValueError, match=r"/var/lib/rancher/k3s/server/node-token on 10\.0\.0\.2 is empty"):
            parse_token(empty, "10.0.0.2")


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("overrides", "settings", "message"),
    [
        ({}, {"kubernetes": {"bogus": 1}}, r"settings\.kubernetes\.bogus: unknown field"),
        (
            {},
            {"kubernetes": {"flannel_backend": "ipsec"}},
            r"settings\.kubernetes\.flannel_backend: unknown value 'ipsec'; use one of vxlan, host-gw",
        ),
        ({}, {"kubernetes": {"version": "1.31"}}, r"settings\.kubernetes\.version: String should match pattern"),
        (
            {},
            {"kubernetes": {"version": "v1.30.8+k3s1"}},
            r"settings\.kubernetes\.version: v1\.30\.8\+k3s1 is Kubernetes 1\.30 but kubernetes_version is 1\.31",
        ),
        ({}, {"kubernetes": {"disable": ["nginx"]}}, r"settings\.kubernetes\.disable\[0\]: 'nginx' is not a k3s"),
        (
            {},
            {"kubernetes": {"disable": ["traefik", "traefik"]}},
            r"settings\.kubernetes\.disable\[1\]: 'traefik' is listed twice",
        ),
        (
            {},
            {"kubernetes": {"disable": ["local-storage"]}},
            r"settings\.kubernetes\.disable\[0\]: local-storage is disabled but settings\.storage\.local_path is true",
        ),
        (
            {},
            {"kubernetes": {"cluster_cidr": "10.42.0.1/16"}},
            r"settings\.kubernetes\.cluster_cidr: '10\.42\.0\.1/16' is not a valid CIDR block",
        ),
        (
            {},
            {"kubernetes": {"service_cidr": "10.42.128.0/20"}},
            r"settings\.kubernetes\.cluster_cidr 10\.42\.0\.0/16 overlaps settings\.kubernetes\.service_cidr",
        ),
        (
            {},
            {"kubernetes": {"cluster_cidr": "10.42.0.0/16,10.44.0.0/16"}},
            r"settings\.kubernetes\.cluster_cidr: .* names two networks of the same IP family",
        ),
        (
            {"hosts": [{"name": "a", "address": "10.42.0.7"}]},
            {},
            r"hosts\[0\]\.address: 10\.42\.0\.7 is inside settings\.kubernetes\.cluster_cidr 10\.42\.0\.0/16",
        ),
        (
            {"hosts": [{"name": "a", "address": "10.0.0.2;reboot"}]},
            {},
            r"hosts\[0\]\.address: '10\.0\.0\.2;reboot' is neither an IP address nor a DNS name",
        ),
        (
            {"hosts": [{"name": "a", "address": "$(id).example"}]},
            {},
            r"hosts\[0\]\.address: .* is neither an IP address nor a DNS name",
        ),
        (
            {"hosts": [{"name": "a", "address": "10.0.0.2"}, {"name": "b", "address": "10.0.0.2", "role": "agent"}]},
            {},
            r"hosts\[1\]\.address: 10\.0\.0\.2 is already used by hosts\[0\]",
        ),
        (
            {"hosts": [{"name": "a", "address": "Edge.example"}, {"name": "b", "address": "edge.EXAMPLE"}]},
            {},
            r"hosts\[1\]\.address: edge\.EXAMPLE is already used by hosts\[0\]",
        ),
        (
            {"hosts": [{"name": "a", "address": "10.0.0.2", "user": "root; rm -rf /"}]},
            {},
            r"hosts\[0\]\.user: 'root; rm -rf /' is not a valid user name",
        ),
        (
            {"hosts": [{"name": "a", "address": "10.0.0.2"}, {"name": "b", "address": "10.0.0.3"}]},
            {},
            r"hosts: 2 servers cannot keep an etcd quorum",
        ),
        (
            {"airgap": {"binary": "k3s"}},
            {},
            r"airgap\.binary: 'k3s' must be an absolute path on the host",
        ),
        (
            {"airgap": {"binary": "/opt/k3s/v1.30.8+k3s1/k3s"}},
            {},
            r"airgap\.binary: /opt/k3s/v1\.30\.8\+k3s1/k3s names k3s v1\.30\.8\+k3s1 but settings\.kubernetes\.version "
            r"is v1\.31\.4\+k3s1",
        ),
        (
            {"airgap": {"images": "/opt/k3s/k3s-airgap-images-v1.30.8-k3s1-amd64.tar.zst"}},
            {},
            r"airgap\.images: .* names k3s v1\.30\.8\+k3s1 but settings\.kubernetes\.version is v1\.31\.4\+k3s1",
        ),
    ],
)
def test_invalid_edge_clusters_are_refused_by_name(
    overrides: dict[str, Any], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate(edge_spec(**overrides), settings)


def test_valid_variants_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", SSH_KEY)
    validate(edge_spec(), {})
    # A custom CNI is the profile's business: flannel none is accepted as it is.
    validate(edge_spec(), {"kubernetes": {"flannel_backend": "none", "disable": ["traefik", "servicelb"]}})
    validate(edge_spec(hosts=ha_hosts()), {})
    validate(edge_spec(airgap={"binary": "/opt/k3s/v1.31.4+k3s1/k3s"}), {})
    validate(edge_spec(hosts=[{"name": "a", "address": "fd00::2"}]), {})
    validate(edge_spec(), {"kubernetes": {"cluster_cidr": "10.42.0.0/16,fd42::/56"}})


def test_an_agent_only_cluster_is_impossible() -> None:
    with pytest.raises(ValueError, match=r"hosts\[0\] must be a server"):
        edge_spec(hosts=[{"name": "a", "address": "10.0.0.2", "role": "agent"}])


def test_validate_is_exposed_for_plan_time_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", SSH_KEY)
    assert EdgeCluster.validate(edge_spec(), {}).kubernetes.version == "v1.31.4+k3s1"


def test_errors_come_before_any_resource(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", SSH_KEY)
    with pytest.raises(ValueError, match=r"settings\.kubernetes\.version"):
        EdgeCluster("fr-00001", edge_spec(), settings={"kubernetes": {"version": "v1.29.1+k3s1"}})
    monkeypatch.delenv("STRATA_TEST_SSH_KEY")
    with pytest.raises(ValueError, match=r"ssh_key: environment variable STRATA_TEST_SSH_KEY is not set"):
        EdgeCluster("fr-00001", edge_spec(), settings={})
    settle()
    assert mocks.resources == []


def test_ssh_key_from_a_missing_file_is_named(mocks: GraphMocks, tmp_path: Path) -> None:
    spec = edge_spec(ssh_key={"file": str(tmp_path / "absent")})
    with pytest.raises(ValueError, match=rf"ssh_key: file {tmp_path}/absent does not exist"):
        EdgeCluster(spec.name, spec, settings={})
    settle()
    assert mocks.resources == []


# ------------------------------------------------------------------------------------------ the graph


def test_graph_single_server_with_agents(edge: GraphMocks) -> None:
    spec = edge_spec(hosts=three_hosts())
    cluster = build(spec)
    component = edge.named("fr-00001", "strata:clusters:EdgeCluster")
    cmds = commands(edge)
    assert set(cmds) == {
        "fr-00001-k3s-10.0.0.2",
        "fr-00001-k3s-10.0.0.3",
        "fr-00001-k3s-edge-c.example.net",
        "fr-00001-node-token",
        "fr-00001-kubeconfig",
    }
    assert edge.types() == {"strata:clusters:EdgeCluster", COMMAND, PROVIDER}
    for r in [*cmds.values(), edge.named("fr-00001-k8s")]:
        assert r.parent == component.urn

    first = cmds["fr-00001-k3s-10.0.0.2"]
    assert first.dependencies == []
    assert "sh -s - server" in first.inputs["create"] and first.inputs["update"] == first.inputs["create"]
    assert "k3s-uninstall.sh" in first.inputs["delete"]
    assert "triggers" not in first.inputs, "a trigger change would replace the install and run the uninstall"
    first_config = yaml.safe_load(first.inputs["stdin"])
    assert first_config["node-name"] == "node-a" and first_config["tls-san"] == ["10.0.0.2"]
    assert "cluster-init" not in first_config and "token" not in first_config

    for node, host in (("node-b", "10.0.0.3"), ("node-c", "edge-c.example.net")):
        agent = cmds[f"fr-00001-k3s-{host}"]
        assert first.urn in agent.dependencies
        assert "sh -s - agent" in agent.inputs["create"] and "k3s-agent-uninstall.sh" in agent.inputs["delete"]
        assert is_rpc_secret(agent.inputs["stdin"]), "the join config holds the token"
        config = yaml.safe_load(plain(agent.inputs["stdin"]))
        assert config == {
            "node-name": node,
            "server": "https://10.0.0.2:6443",
            "token": TOKEN,
        }
        assert plain(agent.inputs["connection"])["host"] == host
    node_b = plain(cmds["fr-00001-k3s-10.0.0.3"].inputs["connection"])
    assert (node_b["user"], node_b["port"]) == ("ops", 2222)
    assert cmds["fr-00001-k3s-10.0.0.3"].inputs["create"].startswith("sudo -n sh -c ")

    for read in ("fr-00001-node-token", "fr-00001-kubeconfig"):
        r = cmds[read]
        assert r.dependencies == [first.urn]
        assert r.inputs["logging"] == "none"
        assert r.inputs["triggers"][0] == "v1.31.4+k3s1"
        assert "delete" not in r.inputs
    assert cmds["fr-00001-kubeconfig"].inputs["create"] == f"sh -c 'cat {KUBECONFIG_PATH}'"

    provider = edge.named("fr-00001-k8s")
    assert set(provider.dependencies) == {
        cmds[n].urn
        for n in (
            "fr-00001-k3s-10.0.0.2",
            "fr-00001-k3s-10.0.0.3",
            "fr-00001-k3s-edge-c.example.net",
            "fr-00001-kubeconfig",
        )
    }
    assert provider.inputs["deleteUnreachable"] == "true"
    assert provider.inputs["clusterIdentifier"] == "strata/edge/fr-00001"
    ready = {r._name for r in cluster.contract.ready}
    assert ready == {"fr-00001-k3s-10.0.0.2", "fr-00001-k3s-10.0.0.3", "fr-00001-k3s-edge-c.example.net"}


def test_every_credential_is_secret(edge: GraphMocks) -> None:
    monitor = SecretOutputsMonitor(edge)
    pulumi.runtime.set_mocks(edge, project="strata", stack="test", preview=False, monitor=monitor)
    cluster = build(edge_spec(hosts=three_hosts()))
    for r in edge.of_type(COMMAND):
        assert is_rpc_secret(r.inputs["connection"]), r.name
        assert plain(r.inputs["connection"])["privateKey"] == SSH_KEY
    for read in ("fr-00001-node-token", "fr-00001-kubeconfig"):
        assert "stdout" in monitor.secret_outputs[read]
    for install in ("fr-00001-k3s-10.0.0.2", "fr-00001-k3s-10.0.0.3"):
        assert "stdout" not in monitor.secret_outputs[install]
    assert is_secret(cluster.kubeconfig)
    assert not is_secret(cluster.endpoint)
    kubeconfig = yaml.safe_load(resolve(cluster.kubeconfig))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.0.0.2:6443"
    provider = edge.named("fr-00001-k8s")
    assert "1b47061264138c4ac30d75fd1eb44270" in str(provider.inputs["kubeconfig"]), "provider kubeconfig is secret"
    # The identity of the provider is the cluster, never a credential.
    identifier = provider.inputs["clusterIdentifier"]
    assert SSH_KEY not in identifier and TOKEN not in identifier and "S0VZ" not in identifier


def test_contract(edge: GraphMocks) -> None:
    cluster = build(edge_spec(cpu_millicores=4000, memory_mib=8192))
    contract = cluster.contract
    assert contract.target is Target.EDGE and contract.name == "fr-00001"
    assert contract.workload_identity is None and contract.oidc_issuer is None
    assert contract.storage_class == "local-path" and contract.load_balancer is True
    assert contract.handles is None
    assert resolve(contract.kubernetes_version) == "1.31"
    assert resolve(contract.endpoint) == "https://10.0.0.2:6443"
    assert contract.facts.nodes == 1 and contract.facts.cpu_millicores == 4000
    assert contract.facts.extra["site"] == "fr-00001"
    assert [r._name for r in contract.ready] == ["fr-00001-k3s-10.0.0.2"]


def test_settings_change_the_contract(edge: GraphMocks) -> None:
    settings = {"kubernetes": {"disable": ["traefik", "servicelb"]}, "storage": {"local_path": False}}
    cluster = build(edge_spec(), settings)
    assert cluster.contract.storage_class is None and cluster.contract.load_balancer is False
    config = yaml.safe_load(commands(edge)["fr-00001-k3s-10.0.0.2"].inputs["stdin"])
    assert config["disable"] == ["traefik", "servicelb", "local-storage"]


def test_ha_servers_join_the_first_and_agents_wait_for_all_servers(edge: GraphMocks) -> None:
    build(edge_spec(hosts=ha_hosts()))
    cmds = commands(edge)
    first = cmds["fr-00001-k3s-10.0.0.2"]
    first_config = yaml.safe_load(first.inputs["stdin"])
    assert first_config["cluster-init"] is True
    assert first_config["tls-san"] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    for joiner in ("fr-00001-k3s-10.0.0.3", "fr-00001-k3s-10.0.0.4"):
        r = cmds[joiner]
        assert first.urn in r.dependencies
        assert cmds["fr-00001-k3s-10.0.0.5"].urn not in r.dependencies
        config = yaml.safe_load(plain(r.inputs["stdin"]))
        assert config["server"] == "https://10.0.0.2:6443" and config["token"] == TOKEN
        assert config["tls-san"] == first_config["tls-san"] and "cluster-init" not in config
        assert "sh -s - server" in r.inputs["create"]
    agent = cmds["fr-00001-k3s-10.0.0.5"]
    assert {cmds[n].urn for n in ("fr-00001-k3s-10.0.0.2", "fr-00001-k3s-10.0.0.3", "fr-00001-k3s-10.0.0.4")} <= set(
        agent.dependencies
    )


def test_single_server_needs_no_token(edge: GraphMocks) -> None:
    build(edge_spec())
    assert set(commands(edge)) == {"fr-00001-k3s-10.0.0.2", "fr-00001-kubeconfig"}


def test_airgap_graph(edge: GraphMocks) -> None:
    build(edge_spec(airgap={}, hosts=three_hosts()))
    for name in ("fr-00001-k3s-10.0.0.2", "fr-00001-k3s-10.0.0.3"):
        create = commands(edge)[name].inputs["create"]
        assert "INSTALL_K3S_SKIP_DOWNLOAD=true" in create and "get.k3s.io" not in create


def test_protect_only_the_installs_and_only_when_asked(edge: GraphMocks) -> None:
    build(edge_spec(hosts=three_hosts()), protect=True)
    protected = {r.name for r in edge.resources if r.protect}
    assert protected == {"fr-00001-k3s-10.0.0.2", "fr-00001-k3s-10.0.0.3", "fr-00001-k3s-edge-c.example.net"}


def test_no_protect_by_default(edge: GraphMocks) -> None:
    build(edge_spec(hosts=three_hosts()))
    assert not any(r.protect for r in edge.resources)


def test_a_version_change_re_runs_the_installer_in_place(edge: GraphMocks) -> None:
    build(edge_spec(name="one", kubernetes_version="1.31"))
    build(edge_spec(name="two", kubernetes_version="1.32"), {"kubernetes": {"version": "v1.32.1+k3s1"}})
    one, two = commands(edge)["one-k3s-10.0.0.2"], commands(edge)["two-k3s-10.0.0.2"]
    assert "INSTALL_K3S_VERSION=v1.32.1+k3s1" in two.inputs["update"]
    assert one.inputs["update"] != two.inputs["update"]
    assert commands(edge)["one-kubeconfig"].inputs["triggers"] != commands(edge)["two-kubeconfig"].inputs["triggers"]


def test_two_clusters_do_not_collide_and_are_deterministic(edge: GraphMocks) -> None:
    build(edge_spec(name="site-a"))
    build(edge_spec(name="site-b"))
    cmds = commands(edge)
    a, b = cmds["site-a-k3s-10.0.0.2"], cmds["site-b-k3s-10.0.0.2"]
    assert a.inputs["stdin"] == b.inputs["stdin"] and a.inputs["create"] == b.inputs["create"]
    assert edge.named("site-a-k8s").inputs["clusterIdentifier"] == "strata/edge/site-a"


def test_build_cluster_uses_the_component(edge: GraphMocks) -> None:
    cluster = build_cluster(edge_spec(), settings={}, protect=False, tags={})
    settle()
    assert isinstance(cluster, EdgeCluster)
    assert edge.named("fr-00001", "strata:clusters:EdgeCluster")


def test_ssh_key_from_config_and_file(edge: GraphMocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pulumi.runtime.set_all_config({"strata:edgeSshKey": SSH_KEY}, ["strata:edgeSshKey"])
    build(edge_spec(name="cfg", ssh_key={"config": "strata:edgeSshKey"}))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "edge").write_text(SSH_KEY, encoding="utf-8")
    build(edge_spec(name="file", ssh_key={"file": "~/.ssh/edge"}))
    for name in ("cfg-k3s-10.0.0.2", "file-k3s-10.0.0.2"):
        connection = commands(edge)[name].inputs["connection"]
        assert is_rpc_secret(connection) and plain(connection)["privateKey"] == SSH_KEY


# --------------------------------------------------------------------------------- no cloud SDK imported

NO_CLOUD = textwrap.dedent(
    """
    import json, os, sys
    import pulumi
    from tests.mocks import GraphMocks, install, settle
    mocks = GraphMocks()
    mocks.state_for["command:remote:Command"] = lambda args: {"stdout": os.environ["K3S_YAML"]}
    install(mocks)
    pulumi.runtime.set_all_config({})
    from components.clusters import build_cluster
    import components.clusters.edge
    from components.clusters.spec import EdgeClusterSpec
    spec = EdgeClusterSpec.model_validate(json.loads(os.environ["SPEC"]))
    build_cluster(spec, settings={})
    settle()
    print(json.dumps({
        "loaded": sorted(m for m in ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp") if m in sys.modules),
        "commands": sum(1 for r in mocks.resources if r.typ == "command:remote:Command"),
    }))
    """
)


def test_an_edge_program_never_imports_a_cloud_sdk() -> None:
    spec = edge_spec(hosts=three_hosts()).model_dump(mode="json", exclude_none=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STRATA_TEST_SSH_KEY": SSH_KEY,
        "K3S_YAML": K3S_YAML,
        "SPEC": json.dumps(spec),
    }
    result = subprocess.run(
        [sys.executable, "-c", NO_CLOUD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"loaded": [], "commands": 5}


def test_validate_requires_a_readable_ssh_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATA_TEST_SSH_KEY", raising=False)
    with pytest.raises(ValueError, match="ssh_key: environment variable STRATA_TEST_SSH_KEY is not set"):
        validate(edge_spec(), {})


def test_host_key_pins_the_ssh_host(edge: GraphMocks) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYEXAMPLEKEYEXAMPLEKEYEXAMPLEKEY"
    build(edge_spec(hosts=[{"name": "node-a", "address": "10.0.0.2", "host_key": key}]))
    settle()
    for r in edge.of_type(COMMAND):
        assert plain(r.inputs["connection"])["hostKey"] == key, r.name
