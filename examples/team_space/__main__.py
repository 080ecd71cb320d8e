"""An application team's stack: a platform cluster by stack reference, and the team's space on it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stacks.pulumi_cli import refuse_direct_run, under_engine

if not under_engine():
    refuse_direct_run("examples/team_space", str(Path(__file__).resolve().parent))

import pulumi

from examples.team_space.team_space import TeamSpace, TeamSpaceArgs
from stacks.contract import cluster_from_reference

config = pulumi.Config()
cluster = cluster_from_reference(config.require("platformStack"), config.require("cluster"))
space = TeamSpace(
    config.require("team"),
    TeamSpaceArgs(
        team=config.require("team"),
        admin_group=config.require("adminGroup"),
        cpu=config.get("cpu") or "4",
        memory=config.get("memory") or "8Gi",
    ),
    provider=cluster.provider,
)
pulumi.export("namespace", space.namespace.metadata.name)
pulumi.export("cluster", cluster.outputs.apply(lambda o: {"name": o.name, "target": o.target.value}))
