"""Pulumi entry point (``main: stacks/`` in Pulumi.yaml): the whole program lives in stacks/program.py."""

import sys
from pathlib import Path

# Pulumi runs this file from the stacks/ folder; make the project importable whether or not it is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.program import run

run()
