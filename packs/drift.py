"""Drift remediation policy per layer: one pure function shared by the plan, the program and the fleet.

Precedence, lowest first: every layer starts at ``alert`` (drift is never hidden by default); each of
the cluster's profiles sets its defaults in order; the environment's ``strata:drift`` sets the rest. A
profile may lock a layer: an environment that tries to change it gets an error naming the profile. The
same policy will drive in-cluster drift correction, so it lives with packs and profiles, not in a CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packs.errors import PlanError
from packs.model import DriftAction, Layer, Profile

DEFAULT_ACTION = DriftAction.ALERT


def resolve_drift(
    profiles: Sequence[tuple[Profile, str]],
    requested: Mapping[Layer, DriftAction],
    file: str,
    field: str,
    cluster: str | None = None,
) -> tuple[dict[Layer, DriftAction], list[PlanError]]:
    """The action per layer for a cluster with ``profiles`` ((profile, its file) in order) in an
    environment requesting ``requested`` (at ``file``: ``field``). Returns every error, never raises."""
    policy = dict.fromkeys(Layer, DEFAULT_ACTION)
    locked: dict[Layer, tuple[DriftAction, Profile]] = {}
    errors: list[PlanError] = []
    for profile, profile_file in profiles:
        for layer, action in profile.drift.layers.items():
            if layer in locked and locked[layer][0] != action:
                first = locked[layer][1]
                errors.append(
                    PlanError(
                        profile_file,
                        f"drift.layers.{layer.value}",
                        f"profile {profile.ref} sets drift of layer {layer.value} to {action.value}, but profile "
                        f"{first.ref} locks it to {locked[layer][0].value}",
                        cluster,
                    )
                )
                continue
            if layer not in locked:
                policy[layer] = action
        for layer in profile.drift.locks:
            locked.setdefault(layer, (profile.drift.layers[layer], profile))
    for layer, action in requested.items():
        if layer in locked and locked[layer][0] != action:
            errors.append(
                PlanError(
                    file,
                    f"{field}.{layer.value}",
                    f"drift of layer {layer.value} is locked to {locked[layer][0].value} by profile "
                    f"{locked[layer][1].ref}; remove the key or set it to {locked[layer][0].value}",
                    cluster,
                )
            )
            continue
        policy[layer] = action
    return policy, errors
