"""What an application team's own stack needs from strata: its checked team space.

The team's file is checked against the platform's environment by the very check ``strata plan`` runs (ceilings,
namespaces, groups, variables, policy); a mistake stops the stack before anything is created, naming the file,
the field and the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from components.team_spec import TeamSpacePlan
from packs.errors import PlanError, PlanErrors
from stacks.environment import CONFIG_DIR, teams_dir_for
from stacks.plan import plan_environment

if TYPE_CHECKING:
    from components.clusters.contract import Handles
    from stacks.contract import ClusterReference

HERE = Path(__file__).resolve().parent


def team_space(
    environment: str,
    cluster: str,
    team: str,
    teams_dir: Path = HERE / "teams",
    config_dir: Path = CONFIG_DIR,
    platform_teams_dir: Path | None = None,
) -> TeamSpacePlan:
    """The team's checked space on ``cluster``.

    The team's folder is planned together with the platform's shared teams folder (``platform_teams_dir``, by
    default the one ``strata plan`` reads for ``config_dir``), so a namespace another team already claims on the
    cluster, or a copy of this team's file in the shared folder, stops the stack naming both files.

    The cloud handles its access may need (EKS, AKS) come from the platform stack's contract, not from here: only
    the deployed cluster knows a generated resource group."""
    shared = platform_teams_dir if platform_teams_dir is not None else teams_dir_for(config_dir)
    planned = plan_environment(environment, cluster, config_dir=config_dir, teams_dir=(shared, teams_dir))
    (cp,) = planned.clusters
    space = next((s for s in cp.teams if s.team == team), None)
    if space is None:
        raise PlanErrors(
            [PlanError(str(teams_dir / f"{team}.yaml"), f"environments.{environment}",
                       f"team {team} does not land on cluster {cluster}", cluster)]
        )
    return space


def team_handles(space: TeamSpacePlan, cluster: ClusterReference, override: Mapping[str, str] | None = None) -> Handles:
    """The cloud handles the team's access needs, from the platform's contract; none when it needs none.

    ``override`` (the stack's ``clusterHandles`` config) wins: it serves a platform stack not yet re-deployed with
    a strata that exports the handles. Asked for only when the access goes through the cloud's API, so a GKE team
    on an old contract is never stopped for handles it does not use."""
    from components.teams import handles_from, needs_handles

    if override:
        return handles_from(space.target, override)
    return cluster.handles(space.target) if needs_handles(space) else None
