"""Pulumi entry point (``main: stacks/`` in Pulumi.yaml): the whole program lives in stacks/program.py.

Run by ``pulumi up`` (or the Automation API), never by ``python -m stacks``: outside the engine there is
no stack to read and nothing to register, so a direct run says how to deploy instead of a traceback.
"""

import sys
from pathlib import Path

# Pulumi runs this file from the stacks/ folder; make the project importable whether or not it is installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stacks.pulumi_cli import refuse_direct_run, under_engine  # noqa: E402

if not under_engine():
    refuse_direct_run("stacks/ (the strata deploy program)", str(ROOT))

from stacks.program import run  # noqa: E402

run(own_process=True)
