"""An application team's stack: its team file checked against the platform, the cluster by stack reference, and
the same TeamSpace the platform's environment stacks build."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stacks.pulumi_cli import refuse_direct_run, under_engine

if not under_engine():
    refuse_direct_run("examples/team_space", str(Path(__file__).resolve().parent))

import pulumi

from components.teams import TeamSpace
from examples.team_space.team_space import HERE, team_handles, team_space
from packs.errors import PlanErrors
from stacks.contract import cluster_from_reference

config = pulumi.Config()
cluster_name = config.require("cluster")
try:
    teams_dir = Path(config.get("teamsDir") or HERE / "teams")
    shared = config.get("platformTeamsDir")
    space = team_space(
        config.require("environment"),
        cluster_name,
        config.require("team"),
        teams_dir,
        platform_teams_dir=Path(shared) if shared else None,
    )
except PlanErrors as exc:
    raise pulumi.RunError(f"{len(exc.errors)} error(s); nothing was created:\n{exc}") from None
cluster = cluster_from_reference(config.require("platformStack"), cluster_name)
TeamSpace(space, cluster.provider, handles=team_handles(space, cluster, config.get_object("clusterHandles")))
pulumi.export("namespaces", [ns.name for ns in space.namespaces])
pulumi.export("cluster", cluster.outputs.apply(lambda o: {"name": o.name, "target": o.target.value}))
