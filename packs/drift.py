"""Drift remediation policy per layer: one pure function shared by the plan, the program and the fleet.

Precedence, lowest first: every layer starts at ``alert`` (drift is never hidden by default); each of
the cluster's profiles sets its defaults in order; the environment's ``strata:drift`` sets the rest. A
profile may lock a layer: an environment that tries to change it gets an error naming the profile. The
same policy will drive in-cluster drift correction, so it lives with packs and profiles, not in a CLI.
The rule itself is packs/levels.py, shared with the policy rules' enforcement levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packs.errors import PlanError
from packs.levels import LevelKind, resolve_levels
from packs.model import DriftAction, Layer, Profile

DEFAULT_ACTION = DriftAction.ALERT
#: Drift actions per layer, as profiles (``drift.layers``, ``drift.locks``) set them.
DRIFT: LevelKind[Layer, DriftAction] = LevelKind(
    of_profile=lambda p: (p.drift.layers, p.drift.locks), section="drift.layers", noun="drift of layer"
)


def resolve_drift(
    profiles: Sequence[tuple[Profile, str]],
    requested: Mapping[Layer, DriftAction],
    file: str,
    field: str,
    cluster: str | None = None,
) -> tuple[dict[Layer, DriftAction], list[PlanError]]:
    """The action per layer for a cluster with ``profiles`` ((profile, its file) in order) in an
    environment requesting ``requested`` (at ``file``: ``field``). Returns every error, never raises."""
    return resolve_levels(DRIFT, dict.fromkeys(Layer, DEFAULT_ACTION), profiles, requested, file, field, cluster)
