"""Team files checked against an environment: the team step of :func:`stacks.plan.check_environment`.

Application teams write ``teams/<team>.yaml`` (components/team_spec.py has the format); ops review it and bound
it with ``strata:teams``. This module turns the files into one :class:`~components.team_spec.TeamSpacePlan` per
team and cluster, and finds every mistake before anything is built, each as a ``PlanError`` naming the team file,
the field and the limit: a cluster or selector that matches nothing, a quota above the ceiling, a namespace two
teams (or a team and a pack) claim, a group missing for a target the team lands on, a pack variable ops do not
let teams set. Variables a team may set go through the resolver with the cluster's own (one code path: exposure,
types and locks are checked exactly as for an environment), with the team file as their origin.

It runs in two steps around the resolver: :func:`plan_teams` on the cluster specs (it says which variables each
cluster receives from teams), then :func:`check_team_plans` on the resolved plans (a team namespace must not
be a pack's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from components.clusters.spec import ClusterSpec, EksClusterSpec, GkeClusterSpec
from components.team_spec import (
    LOAD_BALANCERS_LABEL,
    SYSTEM_NAMESPACES,
    AccessKind,
    AccessPlan,
    NamespacePlan,
    TeamEnvironment,
    TeamFile,
    TeamSpacePlan,
    format_quantity,
    namespace_object,
    namespaced_objects,
    parse_quantity,
)
from packs.errors import PlanError, PlanErrors, did_you_mean, from_validation, load_yaml
from packs.model import Target
from policy.rules import TeamNamespace, is_default_deny
from stacks.environment import ClusterEntry, Environment, available, display_path
from stacks.policy import Located, Locator

if TYPE_CHECKING:
    from stacks.plan import ClusterPlan

#: Where a team variable came from: (value, team file, field path).
TeamVariable = tuple[Any, str, str]


@dataclass(frozen=True)
class TeamEntry:
    """One team file's section for the environment being planned."""

    spec: TeamFile
    file: str
    base: str  # "environments.<env>"
    env: TeamEnvironment


@dataclass
class TeamsVerdict:
    """The team spaces per cluster, the variables teams set per cluster, and every mistake."""

    spaces: dict[str, list[TeamSpacePlan]] = field(default_factory=dict)
    variables: dict[str, dict[str, TeamVariable]] = field(default_factory=dict)
    errors: list[PlanError] = field(default_factory=list)
    #: (cluster, namespace) -> (team file, field path) of the team that claims it.
    claims: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- loading


def load_team_files(environment: Environment) -> tuple[list[TeamEntry], list[PlanError]]:
    """Every team file of the environment's teams folders with a section for this environment, validated.

    A folder that does not exist holds no teams. A section for another environment is not validated here (a
    mistake about prod never blocks dev), but an environment name that is not one is reported everywhere.
    """
    known = available(environment.config_dir) if environment.config_dir is not None else []
    entries: list[TeamEntry] = []
    errors: list[PlanError] = []
    first: dict[str, str] = {}  # team (file stem) -> the file that defines it
    for path in _team_paths(environment.teams_dirs):
        display = display_path(path)
        if path.stem in first:
            errors.append(
                PlanError(
                    display,
                    "team",
                    f"team {path.stem} is also defined in {first[path.stem]}: both would build its space, from two "
                    "stacks; keep one file (a team running its own stack keeps its file out of the shared folder)",
                )
            )
            continue
        first[path.stem] = display
        try:
            raw = load_yaml(path, display)
        except PlanErrors as exc:
            errors.extend(exc.errors)
            continue
        if not isinstance(raw, dict):
            errors.append(PlanError(display, "", "a team file is a mapping (team:, environments: ...)"))
            continue
        try:
            spec = TeamFile.model_validate(raw)
        except ValidationError as exc:
            errors.extend(from_validation(exc, display, "", model=TeamFile))
            continue
        if spec.team != path.stem:
            errors.append(
                PlanError(
                    display,
                    "team",
                    f"team {spec.team!r} is written in {path.name}; name the file {spec.team}.yaml (or set "
                    f"team: {path.stem}) so one file is one team",
                )
            )
            continue
        if known:
            for env_name in spec.environments:
                if env_name not in known:
                    errors.append(
                        PlanError(
                            display,
                            f"environments.{env_name}",
                            f"no environment {env_name!r} (known: {', '.join(known)})" + did_you_mean(env_name, known),
                        )
                    )
        section = spec.environments.get(environment.name)
        if section is None:
            continue
        base = f"environments.{environment.name}"
        try:
            env = TeamEnvironment.model_validate(section)
        except ValidationError as exc:
            errors.extend(from_validation(exc, display, base, model=TeamEnvironment))
            continue
        entries.append(TeamEntry(spec, display, base, env))
    return entries, errors


def _team_paths(folders: Sequence[Path]) -> list[Path]:
    """The team files of every folder, folder by folder (each sorted); a folder named twice is read once."""
    paths: list[Path] = []
    seen: set[Path] = set()
    for folder in folders:
        if folder.resolve() in seen or not folder.is_dir():
            continue
        seen.add(folder.resolve())
        paths.extend(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))
    return paths


# --------------------------------------------------------------------------------------------- matching


def _matches(entry: TeamEntry, environment: Environment) -> tuple[list[ClusterEntry], list[PlanError]]:
    """The clusters a team lands on: by name, then by selector (each once, in the environment's order)."""
    by_name = {c.spec.name: c for c in environment.clusters}
    chosen: dict[str, ClusterEntry] = {}
    errors: list[PlanError] = []
    for i, name in enumerate(entry.env.clusters):
        found = by_name.get(name)
        if found is None:
            shown = ", ".join(list(by_name)[:10]) + (" ..." if len(by_name) > 10 else "")
            errors.append(
                PlanError(
                    entry.file,
                    f"{entry.base}.clusters[{i}]",
                    f"no cluster {name!r} in environment {environment.name} ({shown})" + did_you_mean(name, by_name),
                )
            )
            continue
        chosen[name] = found
    selector = entry.env.selector
    if selector is not None:
        picked = [
            c
            for c in environment.clusters
            if (not selector.targets or c.spec.target in selector.targets)
            and all(c.spec.labels.get(k) == v for k, v in selector.labels.items())
        ]
        if not picked:
            wanted = [f"target in [{', '.join(t.value for t in selector.targets)}]"] if selector.targets else []
            wanted += [f"{k}={v}" for k, v in selector.labels.items()]
            errors.append(
                PlanError(
                    entry.file,
                    f"{entry.base}.selector",
                    f"selects no cluster of environment {environment.name} ({', '.join(wanted) or 'no condition'}); "
                    "check the labels against the clusters' `labels` (or the inventory's labels.<key> columns)",
                )
            )
        for c in picked:
            chosen.setdefault(c.spec.name, c)
    order = {c.spec.name: i for i, c in enumerate(environment.clusters)}
    return sorted(chosen.values(), key=lambda c: order[c.spec.name]), errors


# --------------------------------------------------------------------------------------------- the team step


def plan_teams(environment: Environment, entries: Sequence[ClusterEntry]) -> TeamsVerdict:
    """Every team's space on every cluster of ``entries`` (the clusters being planned), and every mistake.

    Cluster names and selectors are matched against the whole environment, so planning one cluster (or
    deploying one edge site's stack) judges a team file exactly as planning all of them does.
    """
    verdict = TeamsVerdict()
    teams, errors = load_team_files(environment)
    verdict.errors.extend(errors)
    in_scope = {e.spec.name for e in entries}
    eks_principals: dict[tuple[str, str], str] = {}
    for team in teams:
        clusters, problems = _matches(team, environment)
        verdict.errors.extend(problems)
        usable = _allowed_variables(team, environment, verdict.errors)
        for cluster in clusters:
            if cluster.spec.name not in in_scope:
                continue
            space = _space(team, cluster, environment, verdict.errors)
            if space is None:
                continue
            _check_ceiling(team, space, environment, verdict.errors)
            _check_limits(team, space, verdict.errors)
            _check_claims(team, space, verdict)
            _check_principals(team, space, cluster.spec, eks_principals, verdict.errors)
            _collect_variables(team, cluster, usable, verdict)
            verdict.spaces.setdefault(cluster.spec.name, []).append(space)
    return verdict


def _space(
    team: TeamEntry, cluster: ClusterEntry, environment: Environment, errors: list[PlanError]
) -> TeamSpacePlan | None:
    spec, env = cluster.spec, team.env
    key, groups = env.groups.for_target(spec.target)
    if groups is None:
        example = {
            "eks": "{admin: arn:aws:iam::<account>:role/<role>}",
            "aks": "{admin: <Entra group object id>}",
            "gke": "{admin: <group>@<your domain>}",
            "kubernetes": "{admin: <group the API server authenticates>}",
        }[key]
        errors.append(
            PlanError(
                team.file,
                f"{team.base}.groups.{key}",
                f"team {team.spec.team} lands on {spec.target.value} cluster {spec.name} but names no {key} group; "
                f"add groups: {{{key}: {example}}}, or leave the cluster out",
                spec.name,
            )
        )
        return None
    if isinstance(spec, GkeClusterSpec) and spec.rbac_security_group is None:
        errors.append(
            PlanError(
                cluster.file,
                f"{cluster.field}.rbac_security_group",
                f"team {team.spec.team} ({team.file}) binds Google group {groups.admin}, but the cluster has no "
                "Google Groups for RBAC: set rbac_security_group: gke-security-groups@<your domain> (the group "
                "that contains the teams' groups)",
                spec.name,
            )
        )
    kinds: dict[Target, AccessKind] = {Target.EKS: "eks-access-entry", Target.AKS: "azure-rbac"}
    kind = kinds.get(spec.target, "rolebinding")
    q = env.quota
    namespaces = []
    for ns in env.namespaces:
        own = ns.quota
        namespaces.append(
            NamespacePlan(
                name=ns.name,
                cpu=(own.cpu if own and own.cpu is not None else q.cpu),
                memory=(own.memory if own and own.memory is not None else q.memory),
                pods=(own.pods if own and own.pods is not None else q.pods),
                storage=(own.storage if own and own.storage is not None else q.storage),
                load_balancers=(own.load_balancers if own and own.load_balancers is not None else q.load_balancers),
            )
        )
    return TeamSpacePlan(
        team=team.spec.team,
        file=team.file,
        cluster=spec.name,
        target=spec.target,
        namespaces=tuple(namespaces),
        limits=env.limits,
        access=AccessPlan(kind, groups.admin, groups.view),
        kubernetes_version=spec.kubernetes_version,
        pod_security=env.pod_security,
        default_deny=env.default_deny,
        retain=environment.settings.production,
        renamed_from=team.spec.renamed_from,
        cluster_renamed_from=spec.renamed_from,
        variables=dict(env.variables),
        section=team.base,
    )


def _ceiling_source(environment: Environment, team: str, key: str) -> str:
    place = environment.settings.teams.ceiling_place(team, key)
    if place is None:
        return f'the built-in default; ops set config."strata:teams".teams.{team}.{key} in {environment.file}'
    return f"{environment.file}: {place}"


_UNITS = {"cpu": "CPU", "memory": "memory", "storage": "storage", "pods": "pods", "load_balancers": "load balancers"}


def _check_ceiling(team: TeamEntry, space: TeamSpacePlan, environment: Environment, errors: list[PlanError]) -> None:
    """The team's totals on the cluster against its ceiling, one error per field exceeded."""
    settings = environment.settings.teams
    ceiling = settings.ceiling(team.spec.team, environment.settings.production)
    name, cluster = team.spec.team, space.cluster
    count = len(space.namespaces)
    if count > ceiling["namespaces"]:
        errors.append(
            PlanError(
                team.file,
                f"{team.base}.namespaces",
                f"team {name} asks for {count} namespaces on cluster {cluster}, above its ceiling of "
                f"{ceiling['namespaces']} ({_ceiling_source(environment, name, 'namespaces')}); "
                "merge namespaces or ask ops to raise the ceiling",
                cluster,
            )
        )
    for key in ("cpu", "memory", "storage", "pods", "load_balancers"):
        amounts = [getattr(ns, key) for ns in space.namespaces]
        total: Decimal = sum(
            (parse_quantity(a) if isinstance(a, str) else Decimal(a) for a in amounts), start=Decimal(0)
        )
        limit_value = ceiling[key]
        limit = parse_quantity(limit_value) if isinstance(limit_value, str) else Decimal(limit_value)
        if total <= limit:
            continue
        memory = key in ("memory", "storage")
        shown = format_quantity(total, memory) if key in ("cpu", "memory", "storage") else str(total)
        per = f" ({count} namespaces)" if count > 1 else ""
        where = _ceiling_source(environment, name, key)
        if key == "load_balancers" and limit == 0:
            message = (
                f"team {name} asks for {shown} LoadBalancer service(s) on cluster {cluster}, but ops allow it none "
                f"({where}); expose services through the cluster's ingress or gateway, or ask "
                f"ops to set load_balancers for {name} in strata:teams"
            )
        else:
            message = (
                f"team {name} asks for {shown} {_UNITS[key]} on cluster {cluster}{per}, above its ceiling of "
                f"{limit_value} ({where}); lower quota.{key} or ask ops to raise the ceiling"
            )
        errors.append(PlanError(team.file, f"{team.base}.quota.{key}", message, cluster))


def _check_limits(team: TeamEntry, space: TeamSpacePlan, errors: list[PlanError]) -> None:
    """A container's default limits must fit the quota of each namespace.

    The quota caps ``limits.cpu`` and ``limits.memory``, and the LimitRange gives every container that names no
    limit the default one: a default above a namespace's quota makes the API server refuse every such pod there
    ("exceeded quota"), which the team would only find when its first deployment stays at zero replicas.
    """
    for what in ("cpu", "memory"):
        value = getattr(space.limits.default, what)
        over = [ns for ns in space.namespaces if parse_quantity(value) > parse_quantity(getattr(ns, what))]
        if not over:
            continue
        shown = ", ".join(f"{ns.name} ({getattr(ns, what)})" for ns in over)
        errors.append(
            PlanError(
                team.file,
                f"{team.base}.limits.default.{what}",
                f"limits.default.{what} {value} is above the {what} quota of namespace(s) {shown} on cluster "
                f"{space.cluster}: every pod that names no limit would be refused by the quota; lower "
                f"limits.default.{what} or raise the namespace's quota.{what}",
                space.cluster,
            )
        )


def _check_claims(team: TeamEntry, space: TeamSpacePlan, verdict: TeamsVerdict) -> None:
    """A namespace belongs to one team per cluster, and never to the cluster itself."""
    for i, ns in enumerate(space.namespaces):
        where = f"{team.base}.namespaces[{i}].name"
        if ns.name in SYSTEM_NAMESPACES:
            verdict.errors.append(
                PlanError(team.file, where, f"namespace {ns.name} belongs to the cluster; choose another name",
                          space.cluster)
            )
            continue
        first = verdict.claims.get((space.cluster, ns.name))
        if first is not None:
            verdict.errors.append(
                PlanError(
                    team.file,
                    where,
                    f"namespace {ns.name} on cluster {space.cluster} is already claimed at {first[0]}: {first[1]}; "
                    "a namespace belongs to one team: choose another name",
                    space.cluster,
                )
            )
            continue
        verdict.claims[(space.cluster, ns.name)] = (team.file, where)


def _check_principals(
    team: TeamEntry,
    space: TeamSpacePlan,
    spec: ClusterSpec,
    seen: dict[tuple[str, str], str],
    errors: list[PlanError],
) -> None:
    """EKS keeps one access entry per IAM principal and cluster: a principal is one team's, not an admin's."""
    if space.access.kind != "eks-access-entry":
        return
    admins = spec.admins if isinstance(spec, EksClusterSpec) else ()
    for role in ("admin", "view"):
        principal = getattr(space.access, role)
        if principal is None:
            continue
        where = f"{team.base}.groups.eks.{role}"
        if principal in admins:
            errors.append(
                PlanError(
                    team.file,
                    where,
                    f"{principal} is already a cluster admin of {spec.name} (its `admins`), and EKS allows one access "
                    "entry per principal; give the team its own IAM role",
                    spec.name,
                )
            )
            continue
        other = seen.setdefault((spec.name, principal), team.file)
        if other != team.file:
            errors.append(
                PlanError(
                    team.file,
                    where,
                    f"{principal} is already the principal of {other} on cluster {spec.name}, and EKS allows one "
                    "access entry per principal; give each team its own IAM role",
                    spec.name,
                )
            )


def _allowed_variables(team: TeamEntry, environment: Environment, errors: list[PlanError]) -> dict[str, Any]:
    """The team's variables ops let it set here; the others are errors (the resolver judges the rest).

    A pack is installed once per cluster, so a team's variable is the pack's value for every team on the
    cluster: nothing is allowed until ops list it, and the message says where they would.
    """
    name = team.spec.team
    allowed = environment.settings.teams.allowed_variables(name)
    usable: dict[str, Any] = {}
    for key, value in team.env.variables.items():
        if "*" in allowed or key in allowed:
            usable[key] = value
            continue
        shown = ", ".join(allowed) if allowed else "none"
        errors.append(
            PlanError(
                team.file,
                f"{team.base}.variables.{key}",
                f"team {name} may not set {key} in environment {environment.name}: ops have not allowed it (its "
                f"value applies to every team on the cluster; allowed for {name}: {shown}); ops allow it by adding "
                f"{key} to {environment.file}: config.\"strata:teams\".variables (every team) or "
                f"config.\"strata:teams\".teams.{name}.variables (this team only); or remove it from the team file",
            )
        )
    return usable


def _collect_variables(
    team: TeamEntry, cluster: ClusterEntry, usable: Mapping[str, Any], verdict: TeamsVerdict
) -> None:
    """A variable has one value per cluster: two teams (or a team and the environment) may not disagree."""
    name = cluster.spec.name
    mine = verdict.variables.setdefault(name, {})
    for key, value in usable.items():
        where = f"{team.base}.variables.{key}"
        if key in cluster.spec.variables:
            verdict.errors.append(
                PlanError(
                    team.file,
                    where,
                    f"{key} is set for cluster {name} by the environment ({cluster.file}: {cluster.field}.variables."
                    f"{key}); ops' value stands: remove it from the team file",
                    name,
                )
            )
            continue
        first = mine.get(key)
        if first is not None and first[0] != value:
            verdict.errors.append(
                PlanError(
                    team.file,
                    where,
                    f"{key} is {value!r} here but {first[0]!r} in {first[1]}: {first[2]}, and both teams land on "
                    f"cluster {name}; a pack variable has one value per cluster: agree on one",
                    name,
                )
            )
            continue
        mine.setdefault(key, (value, team.file, where))


def _policy_not_enforced(cp: ClusterPlan) -> str | None:
    """Why the cluster would accept a NetworkPolicy without enforcing it, when its plan says so.

    The API server stores a NetworkPolicy whatever the CNI does with it, so a default-deny on a cluster whose
    CNI enforces nothing is a guard rail that silently does not exist. EKS enforces policy only through the VPC
    CNI's network policy agent (``enableNetworkPolicy``); AKS only with a network policy engine, or the Cilium
    dataplane. GKE clusters always enforce it (Dataplane V2, or Calico on the legacy dataplane), k3s through its
    embedded controller or the CNI that replaces flannel; an adopted cluster's CNI is not strata's to judge.
    """
    target = cp.entry.spec.target
    if target is Target.EKS:
        cni = next((p for p in cp.plan.packs if p.name == "aws-vpc-cni"), None)
        if cni is not None and str(cni.values.get("enableNetworkPolicy", "false")).lower() != "true":
            return "aws-vpc-cni's enableNetworkPolicy (variable network_policy) is not \"true\""
    if target is Target.AKS:
        network = cp.plan.settings().get("network", {})
        if network.get("network_policy", "azure") is None and network.get("network_dataplane", "azure") != "cilium":
            return "settings.network.network_policy is unset and the dataplane is not cilium"
    return None


def check_team_plans(verdict: TeamsVerdict, plans: Sequence[ClusterPlan]) -> tuple[list[ClusterPlan], list[PlanError]]:
    """The team step after resolution: every mistake the team files hold, and each cluster's plan with its team
    spaces. A team namespace that is also a pack's namespace on the cluster is an error (the pack would own, and
    on removal delete, the team's namespace)."""
    errors = list(verdict.errors)
    out: list[ClusterPlan] = []
    for cp in plans:
        cluster = cp.entry.spec.name
        spaces = verdict.spaces.get(cluster, [])
        packs = {p.namespace: p.ref for p in cp.plan.packs if p.namespace}
        if cp.delivery.controllers is not None:
            packs.update({p.namespace: p.ref for p in cp.delivery.controllers.packs if p.namespace})
        unenforced = _policy_not_enforced(cp)
        for space in spaces:
            if space.default_deny and unenforced is not None:
                errors.append(
                    PlanError(
                        space.file,
                        f"{space.section}.default_deny",
                        f"team {space.team}'s namespaces on cluster {cluster} rely on a default-deny NetworkPolicy, "
                        f"but the cluster does not enforce NetworkPolicy ({unenforced}); ops turn enforcement on, "
                        "or the team leaves the cluster out",
                        cluster,
                    )
                )
            for ns in space.namespaces:
                ref = packs.get(ns.name)
                if ref is None or ns.name in SYSTEM_NAMESPACES:  # reported by the team step already
                    continue
                file, where = verdict.claims.get((cluster, ns.name), (space.file, space.section))
                errors.append(
                    PlanError(
                        file,
                        where,
                        f"namespace {ns.name} on cluster {cluster} is pack {ref}'s namespace; choose another name",
                        cluster,
                    )
                )
        out.append(replace(cp, teams=tuple(spaces)) if spaces else cp)
    return out, errors


def namespace_views(space: TeamSpacePlan) -> list[TeamNamespace]:
    """The policy rules' view of each namespace of a team space, read off the very objects the TeamSpace applies
    (the CrossGuard pack reads the same objects from the resources a deployment registers)."""
    views = []
    for ns in space.namespaces:
        inside = namespaced_objects(space, ns)
        kinds = {o["kind"] for o in inside}
        deny = any(is_default_deny(o["spec"]) for o in inside if o["kind"] == "NetworkPolicy")
        labels = namespace_object(space, ns)["metadata"]["labels"]
        views.append(
            TeamNamespace(
                ns.name,
                space.team,
                has_quota="ResourceQuota" in kinds,
                has_limit_range="LimitRange" in kinds,
                default_deny=deny,
                load_balancers=(),  # services are the team's own: judged by the CrossGuard pack at deploy time
                load_balancers_allowed=labels.get(LOAD_BALANCERS_LABEL) == "allowed",
            )
        )
    return views


def team_views(plans: Sequence[ClusterPlan]) -> list[tuple[str, Located]]:
    """Every team namespace as a policy view, located in its team file (for ``check_policy``'s ``extra``)."""
    out: list[tuple[str, Located]] = []
    for cp in plans:
        for space in cp.teams:
            for i, view in enumerate(namespace_views(space)):
                base = f"{space.section}.namespaces[{i}]"
                places = {
                    "quota": (space.file, f"{space.section}.quota"),
                    "limit_range": (space.file, f"{space.section}.limits"),
                    "network_policy": (space.file, f"{space.section}.default_deny"),
                    "load_balancers": (space.file, f"{space.section}.quota.load_balancers"),
                }
                out.append((cp.entry.spec.name, (view, Locator(space.file, base, places))))
    return out
