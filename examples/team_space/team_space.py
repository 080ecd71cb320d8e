"""What an application team's own stack needs from strata: its checked team space, and the cluster's handles.

The team's file is checked against the platform's environment by the very check ``strata plan`` runs (ceilings,
namespaces, groups, variables, policy); a mistake stops the stack before anything is created, naming the file,
the field and the limit.
"""

from __future__ import annotations

from pathlib import Path

from components.clusters.spec import AksClusterSpec, EksClusterSpec
from components.team_spec import TeamSpacePlan
from packs.errors import PlanError, PlanErrors
from stacks.environment import CONFIG_DIR
from stacks.plan import plan_environment

HERE = Path(__file__).resolve().parent


def team_space(
    environment: str, cluster: str, team: str, teams_dir: Path = HERE / "teams", config_dir: Path = CONFIG_DIR
) -> tuple[TeamSpacePlan, dict[str, str]]:
    """The team's checked space on ``cluster``, and the cloud handles a TeamSpace needs there (EKS: the cluster's
    cloud name and region; AKS: its name and resource group when the environment names one)."""
    planned = plan_environment(environment, cluster, config_dir=config_dir, teams_dir=teams_dir)
    (cp,) = planned.clusters
    space = next((s for s in cp.teams if s.team == team), None)
    if space is None:
        raise PlanErrors(
            [PlanError(str(teams_dir / f"{team}.yaml"), f"environments.{environment}",
                       f"team {team} does not land on cluster {cluster}", cluster)]
        )
    spec = cp.entry.spec
    handles: dict[str, str] = {}
    if isinstance(spec, EksClusterSpec):
        handles = {"cluster_name": spec.cloud_name, "region": spec.region}
    elif isinstance(spec, AksClusterSpec) and spec.resource_group is not None:
        handles = {"cluster_name": spec.cloud_name, "resource_group_name": spec.resource_group}
    return space, handles
