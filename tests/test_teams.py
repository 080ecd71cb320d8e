"""Team self-service: team files checked as strictly as environments, and the TeamSpace they build.

Every case runs in a temporary project (``stacks/config/Pulumi.t.yaml`` and ``stacks/teams/*.yaml``) against the real
catalogue: the shipped ``dev`` environment (one cluster on each cloud) plus an adopted cluster, so a team lands on
every kind of target.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from typer.testing import CliRunner

from components.team_spec import parse_quantity, space_objects
from packs.errors import PlanError, PlanErrors
from stacks.cli import app
from stacks.environment import CONFIG_DIR, available, load_environment, teams_dir_for
from stacks.plan import EnvironmentPlan, plan_environment
from stacks.program import run
from tests import test_cluster_aks, test_cluster_eks, test_cluster_gke
from tests.mocks import GraphMocks, cluster_of, install, settle, validate_objects

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
ADMIN_ARN = "arn:aws:iam::111122223333:role/shop-admins"
ENTRA = "6f1c2b7e-3d4a-4c59-9e8f-0a1b2c3d4e5f"


def base_env() -> dict[str, Any]:
    """dev's three cloud clusters and an adopted one, every cluster labelled env=dev."""
    raw = yaml.safe_load((ROOT / "stacks/config/Pulumi.dev.yaml").read_text())["config"]
    env = {k.removeprefix("strata:"): v for k, v in raw.items()}
    env.pop("teams", None)
    env["clusters"].append(
        {
            "name": "ops",
            "target": "existing",
            "kubernetes_version": "1.33",  # a version of its own: each space follows its cluster's version
            "render_dir": "out/{cluster}",
            "profiles": ["developer-essentials@1.1.0"],
            "labels": {"env": "dev"},
        }
    )
    return env


def team(name: str = "shop", **section: Any) -> dict[str, Any]:
    """A valid team file landing on every cluster of ``t``; ``section`` replaces fields of its ``t`` section."""
    body: dict[str, Any] = {
        "selector": {"labels": {"env": "dev"}},
        "namespaces": [{"name": name}],
        "quota": {"cpu": "2", "memory": "4Gi"},
        "groups": {
            "eks": {"admin": ADMIN_ARN},
            "aks": {"admin": ENTRA},
            "gke": {"admin": f"{name}@example.com"},
            "kubernetes": {"admin": f"{name}-admins", "view": f"{name}-devs"},
        },
    }
    body.update(section)
    return {"team": name, "environments": {"t": body}}


def write(root: Path, env: dict[str, Any], teams: dict[str, dict[str, Any]]) -> Path:
    config = root / "stacks" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": {f"strata:{k}": v for k, v in env.items()}}))
    folder = root / "stacks" / "teams"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for name, doc in teams.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATA_TEAMS_DIR", raising=False)
    return tmp_path


def plan(root: Path, teams: dict[str, dict[str, Any]], env: dict[str, Any] | None = None) -> EnvironmentPlan:
    write(root, env if env is not None else base_env(), teams)
    return plan_environment("t", config_dir=Path("stacks/config"))


def errors(root: Path, teams: dict[str, dict[str, Any]], env: dict[str, Any] | None = None) -> list[PlanError]:
    with pytest.raises(PlanErrors) as caught:
        plan(root, teams, env)
    return caught.value.errors


def only(found: list[PlanError], path: str) -> list[PlanError]:
    return [e for e in found if e.path == path]


# --------------------------------------------------------------------------------------------- valid files


def test_a_team_lands_on_every_target_with_its_access(project: Path) -> None:
    result = plan(project, {"shop": team()})
    spaces = {cp.entry.spec.name: cp.teams for cp in result.clusters}
    kinds = {name: [s.access.kind for s in found] for name, found in spaces.items()}
    assert kinds == {
        "dev-eks": ["eks-access-entry"],
        "dev-aks": ["azure-rbac"],
        "dev-gke": ["rolebinding"],
        "ops": ["rolebinding"],
    }
    assert spaces["dev-gke"][0].access.admin == "shop@example.com"
    assert spaces["ops"][0].access.view == "shop-devs"
    assert spaces["dev-eks"][0].file == "stacks/teams/shop.yaml"


def test_teams_folder_is_beside_the_config_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATA_TEAMS_DIR", raising=False)
    assert teams_dir_for(ROOT / "stacks" / "config") == ROOT / "stacks" / "teams"
    assert (ROOT / "stacks" / "teams" / "payments.yaml").is_file()
    assert teams_dir_for(Path("/srv/infra/config")) == Path("/srv/infra/teams")
    monkeypatch.setenv("STRATA_TEAMS_DIR", "/srv/teams")
    assert teams_dir_for(Path("/srv/infra/config")) == Path("/srv/teams")


# --------------------------------------------------------------------------------------------- ceilings


@pytest.mark.parametrize(
    ("quota", "field", "limit"),
    [
        ({"cpu": "17", "memory": "4Gi"}, "cpu", "ceiling of 16"),
        ({"cpu": "2", "memory": "33Gi"}, "memory", "ceiling of 32Gi"),
        ({"cpu": "2", "memory": "4Gi", "pods": 201}, "pods", "ceiling of 200"),
        ({"cpu": "2", "memory": "4Gi", "storage": "201Gi"}, "storage", "ceiling of 200Gi"),
        ({"cpu": "2", "memory": "4Gi", "load_balancers": 1}, "load_balancers", "ops allow it none"),
    ],
)
def test_each_ceiling_is_enforced_per_cluster(project: Path, quota: dict[str, Any], field: str, limit: str) -> None:
    found = only(errors(project, {"shop": team(quota=quota)}), f"environments.t.quota.{field}")
    assert {e.cluster for e in found} == {"dev-eks", "dev-aks", "dev-gke", "ops"}
    shop = "stacks/teams/shop.yaml"
    assert all(e.file == shop and limit in e.message and "Pulumi.t.yaml" in e.message for e in found)


def test_quotas_add_up_over_the_namespaces_of_a_cluster(project: Path) -> None:
    namespaces = [{"name": "a"}, {"name": "b", "quota": {"cpu": "9"}}]
    found = only(errors(project, {"shop": team(namespaces=namespaces, quota={"cpu": "8", "memory": "1Gi"})}),
                 "environments.t.quota.cpu")
    assert "17 CPU" in found[0].message and "(2 namespaces)" in found[0].message


def test_namespace_count_ceiling(project: Path) -> None:
    namespaces = [{"name": f"ns-{i}"} for i in range(6)]
    found = only(errors(project, {"shop": team(namespaces=namespaces)}), "environments.t.namespaces")
    assert "6 namespaces" in found[0].message and "ceiling of 5" in found[0].message


def test_ops_raise_a_teams_ceiling(project: Path) -> None:
    env = base_env()
    env["teams"] = {"teams": {"shop": {"cpu": "32", "load_balancers": 2}}}
    result = plan(project, {"shop": team(quota={"cpu": "20", "memory": "4Gi", "load_balancers": 1})}, env)
    ns = result.clusters[0].teams[0].namespaces[0]
    assert (ns.cpu, ns.load_balancers) == ("20", 1)
    env["teams"] = {"defaults": {"cpu": "1"}, "teams": {"other": {"cpu": "32"}}}
    found = only(errors(project, {"shop": team()}, env), "environments.t.quota.cpu")
    assert 'config."strata:teams".defaults.cpu' in found[0].message


def test_production_defaults_are_strict(project: Path) -> None:
    env = base_env()
    quota = {"cpu": "10", "memory": "4Gi"}
    assert plan(project, {"shop": team(quota=quota)}, env).clusters  # 16 CPU outside production
    env["production"] = True
    found = only(errors(project, {"shop": team(quota=quota)}, env), "environments.t.quota.cpu")
    assert "ceiling of 8" in found[0].message


# --------------------------------------------------------------------------------------------- clusters


def test_a_cluster_that_does_not_exist(project: Path) -> None:
    found = errors(project, {"shop": team(selector=None, clusters=["dev-ekss"])})
    assert [str(e) for e in found] == [
        "stacks/teams/shop.yaml: environments.t.clusters[0]: no cluster 'dev-ekss' in environment t (dev-eks, dev-aks, "
        "dev-gke, ops); did you mean 'dev-eks' or 'dev-aks' or 'dev-gke'?"
    ]


def test_a_selector_that_matches_nothing(project: Path) -> None:
    found = errors(project, {"shop": team(selector={"targets": ["edge"], "labels": {"env": "dev"}})})
    assert [e.path for e in found] == ["environments.t.selector"]
    assert "selects no cluster of environment t (target in [edge], env=dev)" in found[0].message


def test_the_file_is_named_after_the_team(project: Path) -> None:
    found = errors(project, {"shop": team("other")})
    assert [(e.file, e.path) for e in found] == [("stacks/teams/shop.yaml", "team")]


def test_an_unknown_environment_and_field(project: Path) -> None:
    doc = team()
    doc["environments"]["prdo"] = {}
    doc["environments"]["t"]["namespace"] = []
    found = errors(project, {"shop": doc})
    assert "did you mean 'namespaces'?" in only(found, "environments.t.namespace")[0].message
    assert "no environment 'prdo'" in only(found, "environments.prdo")[0].message


# --------------------------------------------------------------------------------------------- namespaces


def test_a_namespace_two_teams_claim(project: Path) -> None:
    found = errors(project, {"shop": team(), "web": team("web", namespaces=[{"name": "shop"}])})
    first = only(found, "environments.t.namespaces[0].name")
    assert {e.file for e in first} == {"stacks/teams/web.yaml"}
    assert "already claimed at stacks/teams/shop.yaml: environments.t.namespaces[0].name" in first[0].message


def test_a_namespace_a_pack_owns(project: Path) -> None:
    found = errors(project, {"shop": team(namespaces=[{"name": "monitoring"}])})
    clusters = {e.cluster for e in found if "kube-prometheus-stack" in e.message}
    assert clusters == {"dev-eks", "dev-aks", "dev-gke"}  # observability's namespace; ops has no such pack
    assert all(e.path == "environments.t.namespaces[0].name" for e in found)


def test_a_namespace_of_the_cluster(project: Path) -> None:
    found = errors(project, {"shop": team(namespaces=[{"name": "kube-system"}])})
    assert all("belongs to the cluster" in e.message for e in found) and len(found) == 4


# --------------------------------------------------------------------------------------------- groups


def test_a_group_missing_for_a_target_the_team_lands_on(project: Path) -> None:
    doc = team()
    del doc["environments"]["t"]["groups"]["aks"]
    found = errors(project, {"shop": doc})
    assert [(e.path, e.cluster) for e in found] == [("environments.t.groups.aks", "dev-aks")]
    assert "add groups: {aks: {admin: <Entra group object id>}}" in found[0].message


def test_google_groups_need_the_clusters_security_group(project: Path) -> None:
    env = base_env()
    del env["clusters"][2]["rbac_security_group"]
    found = errors(project, {"shop": team()}, env)
    assert [(e.file, e.path) for e in found] == [
        ("stacks/config/Pulumi.t.yaml", 'config."strata:clusters"[2].rbac_security_group')
    ]
    assert "stacks/teams/shop.yaml" in found[0].message


def test_an_iam_principal_belongs_to_one_team(project: Path) -> None:
    found = errors(project, {"shop": team(), "web": team("web")})
    assert [(e.file, e.path, e.cluster) for e in found] == [
        ("stacks/teams/web.yaml", "environments.t.groups.eks.admin", "dev-eks")
    ]


def test_invalid_group_ids(project: Path) -> None:
    doc = team()
    doc["environments"]["t"]["groups"]["aks"] = {"admin": "payments-admins"}
    found = errors(project, {"shop": doc})
    assert [e.path for e in found] == ["environments.t.groups.aks.admin"]


# --------------------------------------------------------------------------------------------- variables


def allowing(*variables: str, **per_team: list[str]) -> dict[str, Any]:
    """dev's clusters, with ``strata:teams`` letting every team set ``variables`` and each ``per_team`` its own."""
    env = base_env()
    env["teams"] = {"variables": list(variables), "teams": {t: {"variables": v} for t, v in per_team.items()}}
    return env


def test_a_team_sets_an_exposed_variable(project: Path) -> None:
    doc = team(selector=None, clusters=["ops"], variables={"envoy-gateway.log_level": "debug"})
    result = plan(project, {"shop": doc}, allowing("envoy-gateway.log_level"))
    ops = next(cp for cp in result.clusters if cp.entry.spec.name == "ops")
    pack = ops.plan.pack("envoy-gateway")
    origin = next(o for o in pack.provenance.values() if o.source == "team-variable")
    assert (origin.file, origin.path) == ("stacks/teams/shop.yaml", "environments.t.variables.envoy-gateway.log_level")
    assert "debug" in json.dumps(pack.values)


def test_unexposed_and_invalid_variables_are_judged_by_the_resolver(project: Path) -> None:
    variables = {"envoy-gateway.replicas": 99, "cert-manager.replicas": 2}
    doc = team(selector=None, clusters=["ops"], variables=variables)
    found = {e.path: e.message for e in errors(project, {"shop": doc}, allowing("*"))}
    assert "above the maximum" in found["environments.t.variables.envoy-gateway.replicas"]
    assert "ask its owners to expose it" in found["environments.t.variables.cert-manager.replicas"]


def test_a_locked_value_cannot_be_crossed(project: Path) -> None:
    # cert-manager's crds are locked by developer-essentials; no variable a team may set writes them.
    doc = team(selector=None, clusters=["ops"], variables={"cert-manager.crds": True})
    found = errors(project, {"shop": doc}, allowing("*"))
    assert [e.path for e in found] == ["environments.t.variables.cert-manager.crds"]


def test_no_variable_is_allowed_unless_ops_list_it(project: Path) -> None:
    """A team's value is the pack's value for the whole cluster: by default, in any environment, none is allowed,
    and the error says which variable, that ops must allow it, and where."""
    doc = team(selector=None, clusters=["ops"], variables={"envoy-gateway.log_level": "debug"})
    for production in (False, True):
        env = base_env()
        env["production"] = production
        found = errors(project, {"shop": doc}, env)
        (error,) = only(found, "environments.t.variables.envoy-gateway.log_level")
        assert error.file == "stacks/teams/shop.yaml"
        assert "team shop may not set envoy-gateway.log_level in environment t" in error.message
        assert "allowed for shop: none" in error.message
        assert 'adding envoy-gateway.log_level to stacks/config/Pulumi.t.yaml: config."strata:teams".variables' in (
            error.message
        )
        assert 'config."strata:teams".teams.shop.variables (this team only)' in error.message


def test_ops_decide_which_variables_each_team_sets(project: Path) -> None:
    doc = team(selector=None, clusters=["ops"], variables={"envoy-gateway.log_level": "debug"})
    found = errors(project, {"shop": doc}, allowing("envoy-gateway.replicas"))
    assert [e.path for e in found] == ["environments.t.variables.envoy-gateway.log_level"]
    assert "allowed for shop: envoy-gateway.replicas" in found[0].message
    # Allowed for this team only: it may set it, another team may not.
    web = team("web", selector=None, clusters=["ops"], variables={"envoy-gateway.log_level": "debug"})
    env = allowing(shop=["envoy-gateway.log_level"])
    found = errors(project, {"shop": doc, "web": web}, env)
    assert [(e.file, e.path) for e in found] == [
        ("stacks/teams/web.yaml", "environments.t.variables.envoy-gateway.log_level")
    ]
    assert plan(project, {"shop": doc}, env).clusters


def test_two_teams_setting_one_variable_differently(project: Path) -> None:
    shop = team(selector=None, clusters=["ops"], variables={"envoy-gateway.log_level": "debug"})
    web = team("web", selector=None, clusters=["ops"], variables={"envoy-gateway.log_level": "info"})
    web["environments"]["t"]["groups"]["eks"]["admin"] = "arn:aws:iam::111122223333:role/web-admins"
    env = allowing("envoy-gateway.log_level")
    found = errors(project, {"shop": shop, "web": web}, env)
    where = ("stacks/teams/web.yaml", "environments.t.variables.envoy-gateway.log_level")
    assert [(e.file, e.path) for e in found] == [where]
    assert "stacks/teams/shop.yaml: environments.t.variables.envoy-gateway.log_level" in found[0].message
    web["environments"]["t"]["variables"] = {"envoy-gateway.log_level": "debug"}
    assert plan(project, {"shop": shop, "web": web}, env).clusters  # agreeing is fine


def test_the_environment_wins_over_a_team(project: Path) -> None:
    doc = team(selector=None, clusters=["dev-eks"], variables={"kube-prometheus-stack.retention": "30d"})
    found = errors(project, {"shop": doc}, allowing("kube-prometheus-stack.retention"))
    assert "set for cluster dev-eks by the environment" in found[0].message


# --------------------------------------------------------------------------------------------- plan output


def test_plan_json_and_table_show_team_spaces(project: Path) -> None:
    env = base_env()
    env["clusters"].append({**env["clusters"][-1], "name": "ops-2"})
    write(project, env, {"shop": team()})
    done = runner.invoke(app, ["plan", "--env", "t", "--config-dir", "stacks/config", "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    teams = {c["name"]: c.get("teams") for c in doc["clusters"]}
    assert teams["ops"][0]["namespaces"][0]["quota"]["cpu"] == "2"
    assert teams["dev-eks"][0]["access"] == {"kind": "eks-access-entry", "admin": ADMIN_ARN, "view": None}
    done = runner.invoke(app, ["plan", "--env", "t", "--config-dir", "stacks/config"])
    section = done.stdout[done.stdout.index("team spaces") :]
    rows = {line.split("│")[3].strip(): line for line in section.splitlines() if line.startswith("│")}
    assert set(rows) == {"dev-eks", "dev-aks", "dev-gke", "ops, ops-2"}  # one row for the same space
    assert "rolebinding: shop-admins (view: shop-devs)" in rows["ops, ops-2"]
    assert "eks-access-entry: " + ADMIN_ARN in rows["dev-eks"]
    other = project / "elsewhere"
    other.mkdir()
    done = runner.invoke(app, ["plan", "--env", "t", "--config-dir", "stacks/config", "--teams-dir", str(other),
                               "--json"])
    assert all("teams" not in c for c in json.loads(done.stdout)["clusters"])


# --------------------------------------------------------------------------------------------- policy


def test_check_applies_the_team_rules(project: Path) -> None:
    write(project, base_env(), {"shop": team(default_deny=False)})
    done = runner.invoke(app, ["check", "--env", "t", "--config-dir", "stacks/config", "--json"])
    findings = [f for f in json.loads(done.stdout)["findings"] if f["rule"] == "team-namespace-guardrails"]
    assert {f["cluster"] for f in findings} == {"dev-eks", "dev-aks", "dev-gke", "ops"}
    assert {(f["file"], f["path"], f["level"]) for f in findings} == {
        ("stacks/teams/shop.yaml", "environments.t.default_deny", "advisory")
    }
    write(project, base_env(), {"shop": team()})
    done = runner.invoke(app, ["check", "--env", "t", "--config-dir", "stacks/config", "--json"])
    assert not [f for f in json.loads(done.stdout)["findings"] if f["rule"].startswith("team-")]
    env = base_env()
    env["policy"] = {"rules": {"team-namespace-guardrails": "mandatory"}}
    found = errors(project, {"shop": team(default_deny=False)}, env)
    assert {e.path for e in found} == {"environments.t.default_deny"}


# --------------------------------------------------------------------------------------------- the program


def run_program(config: Path, mocks: GraphMocks | None = None) -> GraphMocks:
    mocks = mocks or GraphMocks()
    test_cluster_eks.answer(mocks)
    test_cluster_aks.answer(mocks)
    test_cluster_gke.answer(mocks)
    install(mocks, stack="t")
    raw = yaml.safe_load((config / "Pulumi.t.yaml").read_text())["config"]
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()})
    run("t", config_dir=Path("stacks/config"))
    settle()
    return mocks


def test_team_space_per_target_under_mocks(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "x")
    config = write(project, base_env(), {"shop": team()})
    mocks = run_program(config)
    spaces = {r.name: r for r in mocks.of_type("strata:teams:TeamSpace")}
    assert set(spaces) == {"shop-dev-eks", "shop-dev-aks", "shop-dev-gke", "shop-ops"}

    def children(space: str, typ: str) -> list[Any]:
        return [r for r in mocks.of_type(typ) if r.parent == spaces[space].urn]

    # EKS: an access entry and a namespace-scoped admin policy, replaced delete-before-replace.
    (entry,) = children("shop-dev-eks", "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == ADMIN_ARN and entry.inputs["type"] == "STANDARD"
    (assoc,) = children("shop-dev-eks", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert assoc.inputs["accessScope"] == {"type": "namespace", "namespaces": ["shop"]}
    assert assoc.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy"
    assert entry.delete_before_replace and assoc.delete_before_replace
    assert not children("shop-dev-eks", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    # AKS: Azure RBAC at the namespace's scope, for the Entra group.
    (assignment,) = children("shop-dev-aks", "azure-native:authorization:RoleAssignment")
    assert assignment.inputs["principalId"] == ENTRA and assignment.inputs["principalType"] == "Group"
    assert "/providers/Microsoft.ContainerService/managedClusters/" in assignment.inputs["scope"]
    assert assignment.inputs["scope"].endswith("/namespaces/shop")
    assert assignment.inputs["roleDefinitionId"].endswith("3498e952-d568-435e-9b2c-8d77e338d7f7")
    # GKE and adopted clusters: RoleBindings of the admin (and view) ClusterRoles to the group.
    (gke_binding,) = children("shop-dev-gke", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert gke_binding.inputs["subjects"][0]["name"] == "shop@example.com"
    bindings = children("shop-ops", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert sorted((b.inputs["roleRef"]["name"], b.inputs["subjects"][0]["name"]) for b in bindings) == [
        ("admin", "shop-admins"),
        ("view", "shop-devs"),
    ]
    # Everything Kubernetes goes through the cluster's provider; namespaced objects wait for their namespace.
    for space in spaces.values():
        cluster = space.name.removeprefix("shop-")
        provider = mocks.named(f"{cluster}-k8s")
        inside = [r for r in mocks.resources if r.parent == space.urn and r.typ.startswith("kubernetes:")]
        (namespace,) = [r for r in inside if r.typ == "kubernetes:core/v1:Namespace"]
        assert all(r.provider.startswith(provider.urn) for r in inside)
        assert all(namespace.urn in r.dependencies for r in inside if r is not namespace)
        assert not namespace.retain_on_delete  # not production
    # Every object against the Kubernetes OpenAPI schema of the version of the cluster it lands on, and every team
    # namespace enforces that version's Pod Security Standard (never "latest": an upgrade must not tighten it).
    versions = {c["name"]: c["kubernetes_version"] for c in base_env()["clusters"]}
    assert len(set(versions.values())) > 1
    assert validate_objects(mocks, versions) >= 20
    owners = {space.urn for space in spaces.values()}
    namespaces = [r for r in mocks.of_type("kubernetes:core/v1:Namespace") if r.parent in owners]
    assert len(namespaces) == 4
    for ns in namespaces:
        labels = ns.inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{versions[cluster_of(ns)]}", ns.name


def test_production_keeps_team_namespaces(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = base_env()
    env["clusters"] = [env["clusters"][-1]]
    env["production"] = True
    config = write(project, env, {"shop": team(selector=None, clusters=["ops"])})
    mocks = run_program(config)
    namespace = mocks.named("shop-ops-shop-ns")
    assert namespace.retain_on_delete
    # The workloads left behind stay confined: quota, limits and default-deny are kept with the namespace;
    # the team's access leaves with the team.
    for kind in ("quota", "limits", "default-deny"):
        assert mocks.named(f"shop-ops-shop-{kind}").retain_on_delete, kind
    assert not mocks.named("shop-ops-shop-admin-binding").retain_on_delete


def test_a_renamed_team_keeps_its_space(project: Path) -> None:
    env = base_env()
    env["clusters"] = [env["clusters"][-1]]
    doc = team("shop2", selector=None, clusters=["ops"])
    doc["renamed_from"] = ["shop"]
    mocks = run_program(write(project, env, {"shop2": doc}))
    (space,) = mocks.of_type("strata:teams:TeamSpace")
    assert [a for a in space.aliases if isinstance(a, dict) and a.get("name") == "shop-ops"], space.aliases


def test_adding_a_cluster_renames_nothing(project: Path) -> None:
    env = base_env()
    env["clusters"] = [env["clusters"][-1]]
    one = {r.urn for r in run_program(write(project, env, {"shop": team()})).resources if "shop" in r.name}
    second = copy.deepcopy(env["clusters"][0])
    second["name"] = "ops-2"
    env["clusters"].append(second)
    two = {r.urn for r in run_program(write(project, env, {"shop": team()})).resources if "shop" in r.name}
    assert one < two


def test_bad_team_files_register_nothing(project: Path) -> None:
    config = write(project, base_env(), {"shop": team(quota={"cpu": "99", "memory": "1Gi"})})
    mocks = GraphMocks()
    asks = r"stacks/teams/shop\.yaml: environments\.t\.quota\.cpu: team shop asks for 99"
    with pytest.raises(pulumi.RunError, match=asks):
        run_program(config, mocks)
    settle()
    assert mocks.resources == []


def test_objects_validate_for_every_option(project: Path) -> None:
    """Limit maxima, load balancers, baseline pods and no default-deny: still valid objects."""
    import kubernetes_validate

    env = base_env()
    env["teams"] = {"defaults": {"load_balancers": 1}}
    limits = {"default": {"cpu": "1", "memory": "1Gi"}, "default_request": {"cpu": "1", "memory": "1Gi"},
              "max": {"cpu": "2", "memory": "2Gi"}}
    doc = team(limits=limits, pod_security="baseline", default_deny=False,
               quota={"cpu": "2", "memory": "4Gi", "load_balancers": 1})
    space = plan(project, {"shop": doc}, env).clusters[-1].teams[0]
    assert space.kubernetes_version == env["clusters"][-1]["kubernetes_version"]
    objects = space_objects(space)
    for obj in objects:
        kubernetes_validate.validate(obj, space.kubernetes_version, strict=True)
    assert objects[0]["metadata"]["labels"]["strata.io/load-balancers"] == "allowed"
    assert "NetworkPolicy" not in {o["kind"] for o in objects}


def shipped_versions() -> dict[tuple[str, str], tuple[str, str]]:
    """Every (Kubernetes version, target) a shipped cluster runs (inventory sites included) -> (environment, a
    cluster): each version with each kind of access objects it gets."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for name in available(CONFIG_DIR):
        for entry in load_environment(name).clusters:
            found.setdefault((entry.spec.kubernetes_version, entry.spec.target.value), (name, entry.spec.name))
    return found


def test_team_objects_are_valid_for_every_shipped_clusters_version(tmp_path: Path) -> None:
    """A team space lands on a cluster of each version (and target) the shipped environments run: its objects are
    valid for that version's API, and its namespaces enforce that version's Pod Security Standard."""
    import kubernetes_validate

    versions = shipped_versions()
    assert {target for _, target in versions} >= {"eks", "aks", "gke", "edge", "existing"}
    for (version, _), (env, cluster) in sorted(versions.items()):
        doc = team("qa", selector=None, clusters=[cluster])
        doc["environments"] = {env: doc["environments"]["t"]}
        doc["environments"][env]["groups"]["eks"]["admin"] = "arn:aws:iam::111122223333:role/qa-admins"
        (tmp_path / "qa.yaml").write_text(yaml.safe_dump(doc))
        (planned,) = plan_environment(env, cluster, config_dir=CONFIG_DIR, teams_dir=tmp_path).clusters
        space = next(s for s in planned.teams if s.team == "qa")
        assert space.kubernetes_version == version == planned.entry.spec.kubernetes_version
        objects = space_objects(space)
        assert len(objects) >= 4
        for obj in objects:
            kubernetes_validate.validate(obj, version, strict=True)
            if obj["kind"] == "Namespace":
                assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == f"v{version}"


def test_a_cluster_upgrade_moves_the_pod_security_version_explicitly(project: Path) -> None:
    """The version is in the plan (``--json``) and on the namespace; it changes when the cluster's version does."""
    env = base_env()
    env["clusters"] = [env["clusters"][-1]]
    doc = team(selector=None, clusters=["ops"])
    before = plan(project, {"shop": doc}, env).clusters[0].teams[0]
    env["clusters"][0]["kubernetes_version"] = "1.34"
    after = plan(project, {"shop": doc}, env).clusters[0].teams[0]
    assert (before.as_dict()["pod_security_version"], after.as_dict()["pod_security_version"]) == ("v1.33", "v1.34")
    label = "pod-security.kubernetes.io/enforce-version"
    assert space_objects(after)[0]["metadata"]["labels"][label] == "v1.34"


def test_quantities() -> None:
    assert parse_quantity("1.5Gi") == 1.5 * 2**30
    assert parse_quantity("250m") * 4 == 1
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity("4 cores")


def test_azure_role_assignments_keep_their_guid_through_renames() -> None:
    from dataclasses import replace

    from components.team_spec import AccessPlan, LimitDefaults, NamespacePlan, TeamSpacePlan
    from components.teams import aks_assignment_name
    from packs.model import Target

    namespaces = (NamespacePlan("shop", "1", "1Gi", 1, "1Gi", 0),)
    first = TeamSpacePlan(
        "shop", "stacks/teams/shop.yaml", "dev-aks", Target.AKS, namespaces, LimitDefaults(),
        AccessPlan("azure-rbac", ENTRA), "1.34",
    )
    renamed = replace(first, team="store", renamed_from=("shop",), cluster="aks-eu", cluster_renamed_from=("dev-aks",))
    assert aks_assignment_name(renamed, "shop", "admin", ENTRA) == aks_assignment_name(first, "shop", "admin", ENTRA)
    assert aks_assignment_name(first, "shop", "view", ENTRA) != aks_assignment_name(first, "shop", "admin", ENTRA)


def test_container_limits_must_fit_the_namespace_quota(project: Path) -> None:
    """A LimitRange default above the quota refuses every pod that names no limit: caught in the plan."""
    doc = team(
        namespaces=[{"name": "shop"}, {"name": "shop-jobs", "quota": {"cpu": "500m"}}],
        quota={"cpu": "2", "memory": "4Gi"},
        limits={"default": {"cpu": "1", "memory": "1Gi"}, "default_request": {"cpu": "100m", "memory": "128Mi"}},
    )
    found = errors(project, {"shop": doc})
    cpu = only(found, "environments.t.limits.default.cpu")
    assert {e.cluster for e in cpu} == {"dev-eks", "dev-aks", "dev-gke", "ops"}, "one error per cluster"
    for e in cpu:
        assert f"limits.default.cpu 1 is above the cpu quota of namespace(s) shop-jobs (500m) on cluster {e.cluster}" \
            in e.message
        assert "every pod that names no limit would be refused" in e.message
    assert not only(found, "environments.t.limits.default.memory")
    # A default that fits every namespace is accepted.
    doc["environments"]["t"]["limits"]["default"]["cpu"] = "500m"
    assert plan(project, {"shop": doc}).clusters


def test_default_deny_needs_a_cluster_that_enforces_network_policy(project: Path) -> None:
    """An AKS cluster without a network policy engine stores the default-deny policy and enforces nothing."""
    env = base_env()
    aks = next(c for c in env["clusters"] if c["name"] == "dev-aks")
    aks["overrides"] = {"azure-cni-overlay": {"network_dataplane": "azure", "network_policy": None}}
    found = errors(project, {"shop": team()}, env)
    (error,) = only(found, "environments.t.default_deny")
    assert error.cluster == "dev-aks" and error.file == "stacks/teams/shop.yaml"
    assert "does not enforce NetworkPolicy (settings.network.network_policy is unset" in error.message
    # Azure's own engine enforces it, and so does the Cilium dataplane (the shipped default): no error.
    aks["overrides"] = {"azure-cni-overlay": {"network_dataplane": "azure", "network_policy": "azure"}}
    assert plan(project, {"shop": team()}, env).clusters
    del aks["overrides"]
    assert plan(project, {"shop": team()}, env).clusters
    # A team that asks for no default-deny (a policy finding of its own) is not refused for it.
    aks["overrides"] = {"azure-cni-overlay": {"network_dataplane": "azure", "network_policy": None}}
    assert plan(project, {"shop": team(default_deny=False)}, env).clusters


def test_the_documented_strata_teams_block_is_valid() -> None:
    """docs/teams.md's `strata:teams` example is a real setting, with a per-team variable over the shared ones."""
    import re

    from components.team_spec import TeamsSettings

    text = (ROOT / "docs" / "teams.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "strata:teams:" in b)
    settings = TeamsSettings.model_validate(yaml.safe_load(block)["strata:teams"])
    assert settings.allowed_variables("payments") == ("envoy-gateway.log_level", "external-dns.domain")
    assert settings.allowed_variables("analytics") == ("envoy-gateway.log_level",)
    assert TeamsSettings().allowed_variables("payments") == ()
