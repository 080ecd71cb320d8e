"""Command-line options more than one ``strata`` command takes, declared once so their flags, environment
variables and help never drift apart between commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EnvName = Annotated[str, typer.Option("--env", "-e", help="Environment name (stacks/config/Pulumi.<env>.yaml).")]
TeamsDir = Annotated[
    Path | None,
    typer.Option(
        "--teams-dir",
        envvar="STRATA_TEAMS_DIR",
        file_okay=False,
        exists=True,
        help="Folder of team files (<team>.yaml); default: teams/ beside the config folder.",
    ),
]
