"""The mistakes people make, each through the real CLI and through the Pulumi program, with one verdict.

Every case is one small mutation of a valid environment (written to a temporary project) and states what the
user must be told: the file, the field path and a hint that says how to fix it. ``strata plan`` must exit 1
with that error and no traceback; the program (``stacks.program.run`` under Pulumi's mocks, as ``pulumi up``
runs it) must refuse the same environment with exactly the same errors, registering nothing.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from typer.testing import CliRunner

from packs.errors import PlanError, PlanErrors
from stacks.cli import app
from stacks.program import run
from tests import test_cluster_edge, test_cluster_eks, test_cluster_gke
from tests.mocks import GraphMocks, install, settle

runner = CliRunner()
ENV = "stacks/config/Pulumi.t.yaml"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZWRnZQ==\n-----END OPENSSH PRIVATE KEY-----\n"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.0.0.9:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: admin, context: {cluster: c, user: u}}]
current-context: admin
"""

#: A valid environment: an adopted cluster rendering to a folder, an EKS cluster and an edge site.
BASE: dict[str, Any] = {
    "tags": {"owner": "platform"},
    "clusters": [
        {
            "name": "ops",
            "target": "existing",
            "kubernetes_version": "1.34",
            "profiles": ["developer-essentials@1.0.0"],
        },
        {
            "name": "web",
            "target": "eks",
            "region": "eu-west-1",
            "kubernetes_version": "1.34",
            "profiles": ["cloud-standard@1.0.0"],
            "variables": {
                "external-dns.domain": ["web.example.com"],
                "kube-prometheus-stack.grafana_admin_password": {"env": "GRAFANA_ADMIN_PASSWORD"},
            },
            "node_pools": [{"name": "system", "system": True, "instance_types": ["m6i.large"], "min_size": 2}],
        },
        {
            "name": "shop-1",
            "target": "edge",
            "kubernetes_version": "1.34",
            "profiles": ["edge-minimal@1.0.0"],
            "hosts": [{"name": "n1", "address": "10.1.0.1"}],
            "ssh_key": {"env": "STRATA_TEST_SSH_KEY"},
        },
    ],
}
GKE = {
    "name": "data",
    "target": "gke",
    "project": "strata-test-0001",
    "region": "europe-west1",
    "kubernetes_version": "1.34",
    "profiles": ["cloud-standard@1.0.0"],
    "variables": {
        "external-dns.domain": ["data.example.com"],
        "kube-prometheus-stack.grafana_admin_password": {"env": "GRAFANA_ADMIN_PASSWORD"},
    },
    "node_pools": [{"name": "system", "system": True}],
}


#: A valid team file landing on the adopted cluster ``ops``.
TEAM = """team: shop
environments:
  t:
    clusters: [ops]
    namespaces: [{name: shop}]
    quota: {cpu: "2", memory: 4Gi}
    groups: {kubernetes: {admin: shop-admins}}
"""


@dataclass(frozen=True)
class Case:
    """A mistake: how to make it, and what the user must read (``file: path: ...hint...``)."""

    id: str
    path: str
    hint: str
    file: str = ENV
    cluster: str | None = None
    #: Changes the environment document in place (whatever it returns is ignored).
    env: Callable[[dict[str, Any]], object] | None = None
    text: Callable[[str], str] | None = None
    files: dict[str, str | bytes | None] = field(default_factory=dict)
    #: False where Pulumi itself would refuse to start the program (a config file that is not YAML).
    program: bool = True


def at(i: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(env: dict[str, Any]) -> None:
        env["clusters"][i].update(changes)

    return mutate


def variables(i: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(env: dict[str, Any]) -> None:
        env["clusters"][i].setdefault("variables", {}).update({k.replace("__", "."): v for k, v in values.items()})

    return mutate


def drop(i: int, key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(env: dict[str, Any]) -> None:
        del env["clusters"][i][key]

    return mutate


def inventory(csv: str) -> Callable[[dict[str, Any]], None]:
    def mutate(env: dict[str, Any]) -> None:
        env["inventory"] = {
            "file": "sites.csv",
            "defaults": {k: v for k, v in BASE["clusters"][2].items() if k not in ("name", "hosts")},
        }

    return mutate


def inventory_defaults(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """An inventory whose ``defaults`` carry the mistake (every row inherits it)."""

    def mutate(env: dict[str, Any]) -> None:
        inventory("")(env)
        defaults = env["inventory"]["defaults"]
        for key, value in changes.items():
            key = key.replace("__", ".")
            if value is None:
                defaults.pop(key.split("=")[0], None)
            elif "=" in key:  # "old=new": rename a key, value kept
                old, new = key.split("=")
                defaults[new] = defaults.pop(old)
            else:
                defaults[key] = value

    return mutate


SITES = "name,region,site,address\ns-1,eu,fr-1,10.2.0.1\ns-2,eu,fr-2,10.2.0.2\n"
C = 'config."strata:clusters"'
INV = 'config."strata:inventory"'
CASES = [
    # ---------------------------------------------------------------- the environment file itself
    Case(
        "unquoted-version",
        f"{C}[0].kubernetes_version",
        'quote it (kubernetes_version: "1.30")',
        cluster="ops",
        text=lambda t: t.replace("kubernetes_version: '1.34'", "kubernetes_version: 1.30", 1),
    ),
    Case("target-typo", f"{C}[1].target", "use one of eks, aks, gke, edge, existing; did you mean 'eks'?",
         cluster="web", env=at(1, target="ekss")),
    Case("target-missing", f"{C}[0].target", "missing; give one of", cluster="ops", env=drop(0, "target")),
    Case("field-typo", f"{C}[0].render_dirr", "did you mean 'render_dir'?", cluster="ops",
         env=at(0, render_dirr="out")),
    Case("nested-field-typo", f"{C}[2].ssh_key.fil", "did you mean 'file'?", cluster="shop-1",
         env=at(2, ssh_key={"fil": "~/.ssh/id"})),
    Case("name-not-dns", f"{C}[0].name", "is not a DNS label: use 1-63 lowercase letters", cluster="Ops_1",
         env=at(0, name="Ops_1")),
    Case("version-unsupported", f"{C}[2].kubernetes_version", "(supported: >=1.30,<=1.35)", cluster="shop-1",
         env=at(2, kubernetes_version="1.99")),
    Case("label-number", f"{C}[1].labels.tier", 'quote it (tier: "1")', cluster="web", env=at(1, labels={"tier": 1})),
    Case("pool-sizes", f"{C}[1].node_pools[0]", "min_size 3 is greater than max_size 2", cluster="web",
         env=at(1, node_pools=[{"name": "system", "system": True, "min_size": 3, "max_size": 2}])),
    Case("duplicate-name", f"{C}[1].name", "is already used at", cluster=None, env=at(1, name="ops")),
    Case("no-prefix", "config.clusters", "write strata:clusters",
         text=lambda t: t.replace("strata:clusters:", "clusters:")),
    Case("strata-key-typo", "config.strata:clusterz", "did you mean 'clusters'?",
         text=lambda t: t.replace("strata:tags:", "strata:clusterz: []\n  strata:tags:")),
    Case("stacks-value", 'config."strata:stacks"',
         "unknown value 'per-cluster'; use one of environment, cluster; did you mean 'cluster'?",
         env=lambda e: e.update(stacks="per-cluster")),
    Case("yaml-syntax", "line 4, column", "malformed YAML", text=lambda t: t.replace("config:\n", "config:\n  - [\n"),
         program=False),
    # ---------------------------------------------------------------- profiles, packs and variables
    Case("profile-typo", f"{C}[0].profiles[0]", "did you mean 'developer-essentials'?", cluster="ops",
         env=at(0, profiles=["developer-essentails@1.0.0"])),
    Case("profile-version", f"{C}[0].profiles[0]", "known versions: 1.0.0", cluster="ops",
         env=at(0, profiles=["developer-essentials@9.0.0"])),
    Case("profile-target", f"{C}[0].profiles[0]", "does not support target existing (supports edge)", cluster="ops",
         env=at(0, profiles=["edge-minimal@1.0.0"])),
    Case("variable-pack-typo", f"{C}[0].variables.cert-manger.replicas", "did you mean 'cert-manager'?",
         cluster="ops", env=variables(0, **{"cert-manger__replicas": 2})),
    Case("variable-name-typo", f"{C}[0].variables.ingress-nginx.replica", "did you mean 'replicas'?",
         cluster="ops", env=variables(0, **{"ingress-nginx__replica": 2})),
    Case("variable-maximum", f"{C}[0].variables.ingress-nginx.replicas", "above the maximum", cluster="ops",
         env=variables(0, **{"ingress-nginx__replicas": 99})),
    Case("override-pack-typo", f"{C}[0].overrides.ingress-ngnix", "did you mean 'ingress-nginx'?", cluster="ops",
         env=at(0, overrides={"ingress-ngnix": {"a": 1}})),
    Case("required-variable", f"{C}[1].variables.external-dns.domain", "required", cluster="web",
         env=at(1, variables={})),
    # ---------------------------------------------------------------- what only the components used to check
    Case("render-dir-placeholder", f"{C}[0].render_dir", "the only placeholder is {cluster}", cluster="ops",
         env=at(0, render_dir="out/{clster}")),
    Case("context-without-kubeconfig", f"{C}[0].context", "add kubeconfig or remove context", cluster="ops",
         env=at(0, context="admin")),
    Case("kubeconfig-not-a-kubeconfig", f"{C}[0].kubeconfig", "point kubeconfig at one", cluster="ops",
         env=at(0, kubeconfig={"file": "notes.txt"}), files={"notes.txt": "just some notes\n"}),
    Case("kubeconfig-context-missing", f"{C}[0].context", "is not in file kube.yaml (contexts: ['admin'])",
         cluster="ops", env=at(0, kubeconfig={"file": "kube.yaml"}, context="prod"), files={"kube.yaml": KUBECONFIG}),
    Case("aws-tag-prefix", 'config."strata:tags"', "AWS reserves for itself; rename the key", cluster="web",
         env=lambda e: e["tags"].update({"aws:owner": "x"})),
    Case("aws-label-prefix", f"{C}[1].labels", "AWS reserves for itself; rename the key", cluster="web",
         env=at(1, labels={"aws:team": "x"})),
    Case("kubelet-label", f"{C}[1].node_pools[0].labels", "use your own prefix", cluster="web",
         env=at(1, node_pools=[{"name": "system", "system": True, "labels": {"kubernetes.io/role": "x"}}])),
    Case("instance-type", f"{C}[1].node_pools[0].instance_types[0]", "such as m6i.large", cluster="web",
         env=at(1, node_pools=[{"name": "system", "system": True, "instance_types": ["huge"]}])),
    Case("eks-name-length", f"{C}[1].name", "IAM role names derived from it", cluster="web-" + "x" * 46,
         env=at(1, name="web-" + "x" * 46)),
    Case("gke-pods-range", f"{C}[3].pods_cidr", "may grow to", cluster="data",
         env=lambda e: e["clusters"].append({**GKE, "pods_cidr": "10.20.0.0/22",
                                              "node_pools": [{"name": "system", "system": True, "max_size": 9}]})),
    Case("edge-host-address", f"{C}[2].hosts[0].address", "neither an IP address nor a DNS name", cluster="shop-1",
         env=at(2, hosts=[{"name": "n1", "address": "bad_host"}])),
    Case("edge-even-servers", f"{C}[2].hosts", "use an odd number", cluster="shop-1",
         env=at(2, hosts=[{"name": "n1", "address": "10.1.0.1"}, {"name": "n2", "address": "10.1.0.2"}])),
    Case("ssh-key-directory", f"{C}[2].ssh_key", "is a directory, not a file; name the file inside it",
         cluster="shop-1", env=at(2, ssh_key={"file": "keys"}), files={"keys/": None}),
    Case("ssh-key-empty", f"{C}[2].ssh_key", "is empty; give it the secret's value", cluster="shop-1",
         env=at(2, ssh_key={"file": "empty.key"}), files={"empty.key": " \n"}),
    Case("secret-variable-file", f"{C}[0].variables.kube-prometheus-stack.grafana_admin_password",
         "is a directory, not a file", cluster="ops",
         env=lambda e: (e["clusters"][0].update(profiles=["developer-essentials@1.0.0", "observability@1.0.0"]),
                        variables(0, **{"kube-prometheus-stack__grafana_admin_password": {"file": "keys"}})(e)),
         files={"keys/": None}),
    # ---------------------------------------------------------------- inventories
    Case("csv-missing-value", "line 3, column 4 (address)", "Keep the comma of an empty value", file="sites.csv",
         env=inventory(""), files={"sites.csv": "name,region,site,address\ns-1,eu,fr-1,10.2.0.1\ns-2,eu,10.2.0.2\n"}),
    Case("csv-extra-value", "line 2, column 3", "Add a column to the header, or quote a value", file="sites.csv",
         env=inventory(""), files={"sites.csv": "name,address\ns-1,10.2.0.1,rack-4\n"}),
    Case("override-of-a-secret", f"{C}[1].overrides.kube-prometheus-stack.grafana.adminPassword",
         "is the secret variable 'grafana_admin_password'; set it under variables as a reference", cluster="web",
         env=at(1, overrides={"kube-prometheus-stack": {"grafana": {"adminPassword": "hunter2"}}})),
    Case("profiles-not-a-list", f"{C}[0].profiles", "expected a list, got the text 'developer-essentials@1.0.0'; "
         "write a list, e.g. profiles: [developer-essentials@1.0.0]", cluster="ops",
         env=at(0, profiles="developer-essentials@1.0.0")),
    Case("labels-not-a-map", f"{C}[0].labels", "expected a mapping (key: value), got a list", cluster="ops",
         env=at(0, labels=["env"])),
    Case("production-not-a-bool", 'config."strata:production"', "expected true or false, got the text 'maybe'",
         env=lambda e: e.update(production="maybe")),
    Case("clusters-empty-key", 'config."strata:clusters"', "has no value (YAML reads an empty value as null)",
         env=lambda e: e.update(clusters=None)),
    Case("kubeconfig-as-path", f"{C}[0].kubeconfig", "write kubeconfig: {file: ~/.kube/config}", cluster="ops",
         env=at(0, kubeconfig="~/.kube/config")),
    Case("csv-cell-not-a-number", "line 2.cpu_millicores", "expected a whole number, got the text 'two'",
         file="sites.csv", cluster="s-1", env=inventory(""),
         files={"sites.csv": "name,address,cpu_millicores\ns-1,10.2.0.1,two\n"}),
    Case("csv-host-port", "line 2.port", "less than or equal to 65535", file="sites.csv", cluster="s-1",
         env=inventory(""), files={"sites.csv": "name,region,site,address,port\ns-1,eu,fr-1,10.2.0.1,99999\n"}),
    Case("csv-host-address", "line 3.address", "is not a host address", file="sites.csv", cluster="s-2",
         env=inventory(""), files={"sites.csv": SITES.replace("10.2.0.2", '"10.2.0 .2"')}),
    Case("csv-column-typo", "line 1, column 4 (adress)", "unknown column", file="sites.csv",
         env=inventory(""), files={"sites.csv": SITES.replace("address", "adress")}),
    Case("csv-column-typo-hint", "line 1, column 4 (adress)", "did you mean 'address'?", file="sites.csv",
         env=inventory(""), files={"sites.csv": SITES.replace("address", "adress")}),
    Case("csv-dotted-column", "line 1, column 5 (label.tier)", "did you mean 'labels'?", file="sites.csv",
         env=inventory(""), files={"sites.csv": "name,region,site,address,label.tier\ns-1,eu,fr-1,10.2.0.1,a\n"}),
    Case("csv-not-utf8", "line 3", "save the inventory as UTF-8", file="sites.csv",
         env=inventory(""), files={"sites.csv": SITES.replace("fr-2", "fr-\xe9").encode("latin-1")}),
    Case("defaults-field-typo", f"{INV}.defaults.kubernetes_verison", "did you mean 'kubernetes_version'?",
         env=inventory_defaults(**{"kubernetes_version=kubernetes_verison": ""}), files={"sites.csv": SITES}),
    Case("defaults-unquoted-version", f"{INV}.defaults.kubernetes_version", 'quote it (kubernetes_version: "1.30")',
         env=inventory_defaults(kubernetes_version=1.3), files={"sites.csv": SITES}),
    Case("inventory-missing", 'config."strata:inventory".file', "is relative to the config folder",
         env=lambda e: e.update(inventory={"file": "nope.csv"})),
    # ---------------------------------------------------------------- team files (teams/<team>.yaml)
    Case("team-unknown-cluster", "environments.t.clusters[1]", "did you mean 'web'?", file="stacks/teams/shop.yaml",
         files={"stacks/teams/shop.yaml": TEAM.replace("clusters: [ops]", "clusters: [ops, wbe]")}),
    Case("team-selector-empty", "environments.t.selector", "selects no cluster", file="stacks/teams/shop.yaml",
         files={"stacks/teams/shop.yaml": TEAM.replace("clusters: [ops]", "selector: {labels: {tier: gold}}")}),
    Case("team-ceiling", "environments.t.quota.cpu", "above its ceiling of 16", file="stacks/teams/shop.yaml",
         cluster="ops", files={"stacks/teams/shop.yaml": TEAM.replace('cpu: "2"', 'cpu: "24"')}),
    Case("team-pack-namespace", "environments.t.namespaces[0].name", "is pack ingress-nginx@",
         file="stacks/teams/shop.yaml",
         cluster="ops", files={"stacks/teams/shop.yaml": TEAM.replace("name: shop", "name: ingress-nginx")}),
    Case("team-group-missing", "environments.t.groups.eks", "add groups: {eks:", file="stacks/teams/shop.yaml",
         cluster="web", files={"stacks/teams/shop.yaml": TEAM.replace("clusters: [ops]", "clusters: [ops, web]")}),
    Case("team-variable-unexposed", "environments.t.variables.cert-manager.replicas", "ask its owners to expose it",
         file="stacks/teams/shop.yaml", cluster="ops", env=lambda e: e.update(teams={"variables": ["*"]}),
         files={"stacks/teams/shop.yaml": TEAM + "    variables: {cert-manager.replicas: 2}\n"}),
    Case("team-variable-not-allowed", "environments.t.variables.envoy-gateway.log_level",
         'adding envoy-gateway.log_level to stacks/config/Pulumi.t.yaml: config."strata:teams".variables',
         file="stacks/teams/shop.yaml",
         files={"stacks/teams/shop.yaml": TEAM + "    variables: {envoy-gateway.log_level: debug}\n"}),
    Case("team-choice", "environments.t.pod_security",
         "unknown value 'restircted'; use one of restricted, baseline; did you mean 'restricted'?",
         file="stacks/teams/shop.yaml",
         files={"stacks/teams/shop.yaml": TEAM + "    pod_security: restircted\n"}),
    Case("team-quantity", "environments.t.quota.memory", "is not a Kubernetes quantity", file="stacks/teams/shop.yaml",
         files={"stacks/teams/shop.yaml": TEAM.replace("memory: 4Gi", "memory: 4 gigs")}),
]


def _write(root: Path, case: Case) -> None:
    config = root / "stacks" / "config"
    config.mkdir(parents=True, exist_ok=True)
    env = copy.deepcopy(BASE)
    if case.env is not None:
        case.env(env)
    text = yaml.safe_dump({"config": {f"strata:{k}": v for k, v in env.items()}}, sort_keys=False)
    if case.text is not None:
        text = case.text(text)
    (config / "Pulumi.t.yaml").write_text(text)
    for name, content in case.files.items():
        target = (config if name.endswith(".csv") else root) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.write_text(content) if isinstance(content, str) else target.write_bytes(content)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary project the user stands in; secrets present, as in the shell that runs ``pulumi up``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", SSH_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "correct-horse")
    return tmp_path


def plan_cli(*args: str) -> Any:
    return runner.invoke(app, ["plan", "--env", "t", "--config-dir", "stacks/config", *args])


def plan_verdict() -> list[PlanError]:
    result = plan_cli("--json")
    assert "Traceback" not in result.output
    doc = json.loads(result.stdout.splitlines()[0])
    return [PlanError(**e) for e in doc.get("errors", [])]


def program_verdict() -> tuple[list[str], GraphMocks]:
    """Run the program the way ``pulumi up`` does: stack ``t``, its config handed over as the engine does."""
    mocks = GraphMocks()
    test_cluster_eks.answer(mocks)
    test_cluster_gke.answer(mocks)
    test_cluster_edge.answer_reads(mocks)
    install(mocks, stack="t")
    raw = yaml.safe_load(Path(ENV).read_text())["config"]
    # Pulumi passes only namespaced keys, structured values as JSON text.
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items() if ":" in str(k)}
    )
    try:
        run("t", config_dir=Path("stacks/config"))
    except pulumi.RunError as exc:
        head, _, body = str(exc).partition("\n")
        assert head.endswith("error(s); nothing was created:")
        settle()
        return body.split("\n"), mocks
    except PlanErrors as exc:  # pragma: no cover - the program must turn these into a RunError
        raise AssertionError(f"program raised PlanErrors instead of a RunError: {exc}") from None
    settle()
    return [], mocks


def test_the_base_environment_is_valid(project: Path) -> None:
    _write(project, Case("valid", "", ""))
    result = plan_cli()
    assert result.exit_code == 0, result.output
    lines, mocks = program_verdict()
    assert lines == []
    assert mocks.of_type("strata:clusters:EdgeCluster")


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan_names_file_field_and_fix(project: Path, case: Case) -> None:
    _write(project, case)
    result = plan_cli()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = result.stderr
    where = f"{case.file if case.file != 'sites.csv' else 'stacks/config/sites.csv'}: {case.path}"
    line = next((ln for ln in errors.splitlines() if ln.startswith(f"error: {where}")), None)
    assert line is not None, f"no error at {where!r} in:\n{errors}"
    block = errors[errors.index(line) :]
    assert case.hint in block.split("\nerror: ")[0], f"no hint {case.hint!r} in:\n{errors}"
    if case.cluster:
        # Shown in the terminal (not eaten as console markup) on the very line of the error.
        assert f"[cluster {case.cluster}]" in block.split("\nerror: ")[0], errors
    assert errors.rstrip().endswith("nothing was planned or built.")
    # One error per mistake: never a collection reported empty because one of its items is invalid.
    assert "after validation" not in errors, errors


def test_an_invalid_host_in_an_inventory_row_is_one_error(project: Path) -> None:
    """The row's port is wrong, and only that: its host list is not also reported empty."""
    _write(project, next(c for c in CASES if c.id == "csv-host-port"))
    found = plan_verdict()
    assert [(e.file, e.path, e.cluster) for e in found] == [("stacks/config/sites.csv", "line 2.port", "s-1")]


@pytest.mark.parametrize("case", [c for c in CASES if c.program], ids=[c.id for c in CASES if c.program])
def test_plan_and_program_give_one_verdict(project: Path, case: Case) -> None:
    """The same bad input: the same errors from ``strata plan`` and from the program, and nothing registered."""
    _write(project, case)
    planned = [str(e) for e in PlanErrors(plan_verdict()).errors]
    assert planned, "the plan accepted a bad environment"
    refused, mocks = program_verdict()
    assert refused == planned
    assert mocks.resources == []


def test_an_absent_secret_is_what_pulumi_up_needs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan may run where the deploy's secrets are not: it passes and says what ``pulumi up`` will need,
    in the very words the program refuses to start with."""
    _write(project, Case("valid", "", ""))
    monkeypatch.delenv("STRATA_TEST_SSH_KEY")
    result = plan_cli()
    assert result.exit_code == 0, result.output
    need = "ssh_key: environment variable STRATA_TEST_SSH_KEY is not set; export STRATA_TEST_SSH_KEY"
    assert "note: environment variable STRATA_TEST_SSH_KEY is not set; export STRATA_TEST_SSH_KEY" in result.stderr
    assert "(cluster shop-1)" in result.stderr
    refused, mocks = program_verdict()
    assert refused == [f'{ENV}: {C}[2].{need} before running pulumi up [cluster shop-1]']
    assert mocks.resources == []


def test_a_sealed_config_secret_is_present_for_the_plan(project: Path) -> None:
    """``{config: ...}`` references are looked up in the stack's file; a ``secure:`` value is there, sealed."""
    _write(project, Case("valid", "", "", env=at(2, ssh_key={"config": "edgeKey"})))
    path = Path(ENV)
    text = path.read_text() + "  strata:edgeKey:\n    secure: AAABAKx0dGVzdA==\n"
    path.write_text(text)
    result = plan_cli()
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr
    path.write_text(text.replace("strata:edgeKey", "strata:otherKey"))
    result = plan_cli()
    assert result.exit_code == 0
    assert "run pulumi config set --secret edgeKey <value>" in result.stderr


def test_paths_are_shown_as_given(tmp_path: Path) -> None:
    """An absolute --config-dir keeps its leading slash; a folder without environments says so."""
    config = tmp_path / "envs"
    config.mkdir()
    result = runner.invoke(app, ["plan", "--env", "t", "--config-dir", str(config)])
    assert result.exit_code == 1
    assert f"error: {config}/Pulumi.t.yaml: no environment 't': {config} holds no Pulumi.<env>.yaml files" in (
        result.stderr
    )
    result = runner.invoke(app, ["plan", "--env", "local", "--packs-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"error: {tmp_path}: not a pack catalogue: no catalog/ or profiles/ folder" in result.stderr
    assert "--packs-dir" in result.stderr


def test_a_mistake_in_the_inventory_defaults_is_one_error_not_one_per_row(project: Path) -> None:
    """Every row inherits the defaults: a typo there is one mistake, in the environment file; the field it
    leaves unset is said once too, since no row sets it either."""
    _write(project, Case("x", "", "", env=inventory_defaults(**{"kubernetes_version=kubernetes_verison": ""}),
                         files={"sites.csv": SITES}))
    assert [(e.file, e.path) for e in plan_verdict()] == [
        (ENV, f"{INV}.defaults.kubernetes_verison"),
        (ENV, f"{INV}.defaults.kubernetes_version"),
    ]
    # A row's own value is still the row's mistake, on its line.
    sites = "name,address,port\ns-1,10.2.0.1,22\ns-2,10.2.0.2,ssh\n"
    _write(project, Case("x", "", "", env=inventory(""), files={"sites.csv": sites}))
    found = [(e.file, e.path, e.cluster) for e in plan_verdict()]
    assert found == [("stacks/config/sites.csv", "line 3.port", "s-2")]  # the column the user wrote


def test_a_spreadsheet_csv_with_a_byte_order_mark_plans(project: Path) -> None:
    """Spreadsheets save "CSV UTF-8" with a byte-order mark; it is not part of the first column's name."""
    _write(project, Case("x", "", "", env=inventory(""), files={"sites.csv": "\ufeff" + SITES}))
    result = plan_cli()
    assert result.exit_code == 0, result.output
    assert "s-1" in result.stdout and "s-2" in result.stdout


def test_a_secret_written_where_a_reference_goes_is_never_echoed(project: Path) -> None:
    """A kubeconfig pasted inline is refused with how to reference it, and none of its text is shown."""
    pasted = "apiVersion: v1\nclusters: [{cluster: {server: https://10.0.0.9}}]\nusers: [{user: {token: s3cr3t}}]\n"
    _write(project, Case("x", "", "", env=at(0, kubeconfig=pasted)))
    result = plan_cli()
    assert result.exit_code == 1
    assert "s3cr3t" not in result.output
    assert "a secret is given by reference, never as a value: write kubeconfig: {env: NAME}" in result.stderr


def test_the_terminal_shows_every_character_of_an_error(project: Path) -> None:
    """Rendered by the real console: ``[cluster X]`` and bracketed values are text, not rich markup."""
    _write(project, Case("x", "", "", env=at(0, render_dir="out/[bold]{clster}")))
    result = plan_cli()
    expected = (
        f"error: {ENV}: {C}[0].render_dir: 'out/[bold]{{clster}}' is not a valid template (KeyError('clster')); "
        "the only placeholder is {cluster} [cluster ops]"
    )
    assert expected in result.stderr.splitlines()


def test_no_environment_suggests_the_closest(project: Path) -> None:
    _write(project, Case("valid", "", ""))
    result = runner.invoke(app, ["plan", "--env", "tt", "--config-dir", "stacks/config"])
    assert result.exit_code == 1
    assert "no environment 'tt' (known: t); did you mean 't'?" in result.stderr
    assert os.sep + "Pulumi.tt.yaml" in result.stderr


def test_the_rules_import_no_pulumi_and_no_cloud_sdk() -> None:
    """The plan can run every component rule on a machine without Pulumi or any cloud SDK."""
    import subprocess
    import sys

    code = """
import importlib.abc, sys, types
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_azure_native', 'pulumi_gcp', 'pulumi_command',
                                  'pulumi_kubernetes', 'grpc'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
# Only the rules: the package __init__ (which builds components) is not what the plan needs.
package = types.ModuleType('components.clusters')
package.__path__ = ['components/clusters']
sys.modules['components.clusters'] = package
from components.clusters.checks import RULES, check_cluster
print(' '.join(sorted(t.value for t in RULES)))
"""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["aks", "edge", "eks", "existing", "gke"]
