"""Levels set by defaults, then profiles (which may lock one), then the environment: one rule for every setting.

Drift remediation per layer (packs/drift.py) and policy enforcement per rule (stacks/policy.py) are decided the
same way, and must stay decided the same way, so a user who learnt one knows the other:

1. every key starts at its default (``alert`` for drift; for policy, ``mandatory`` in production and
   ``advisory`` elsewhere);
2. each of the cluster's profiles, in order, sets its levels; a profile may lock a key, and a later profile
   that sets a locked key to another level is an error naming both profiles;
3. the environment sets the rest; changing a locked key is an error naming the profile that locks it, with the
   fix (remove the key, or set it to the locked level).

Pure, no Pulumi: the plan, the program, ``strata check`` and the fleet all call it. Every error is returned,
nothing is raised, so one run reports every crossed lock.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from packs.errors import PlanError
from packs.model import Profile

K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=enum.Enum)


@dataclass(frozen=True)
class LevelKind(Generic[K, V]):
    """What is being levelled, and how errors name it."""

    #: A profile's levels and locks for this kind (``profile.drift.layers``, ``profile.drift.locks``).
    of_profile: Callable[[Profile], tuple[Mapping[K, V], Sequence[K]]]
    #: Where a profile file sets a key: ``drift.layers.<key>``.
    section: str
    #: How a message names one key: ``drift of layer os``, ``policy rule eks-audit-logs``.
    noun: str

    def name(self, key: K) -> str:
        return f"{self.noun} {_text(key)}"


def _text(value: object) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def resolve_levels(
    kind: LevelKind[K, V],
    defaults: Mapping[K, V],
    profiles: Sequence[tuple[Profile, str]],
    requested: Mapping[K, V],
    file: str,
    field: str,
    cluster: str | None = None,
) -> tuple[dict[K, V], list[PlanError]]:
    """The level of every key for a cluster with ``profiles`` ((profile, its file), in order) in an environment
    requesting ``requested`` (written at ``file``: ``field``). Returns every error, never raises."""
    levels = dict(defaults)
    locked: dict[K, tuple[V, Profile]] = {}
    errors: list[PlanError] = []
    for profile, profile_file in profiles:
        own, locks = kind.of_profile(profile)
        for key, level in own.items():
            if key in locked and locked[key][0] != level:
                held, first = locked[key]
                errors.append(
                    PlanError(
                        profile_file,
                        f"{kind.section}.{_text(key)}",
                        f"profile {profile.ref} sets {kind.name(key)} to {_text(level)}, but profile {first.ref} "
                        f"locks it to {_text(held)}",
                        cluster,
                    )
                )
                continue
            if key not in locked:
                levels[key] = level
        for key in locks:
            locked.setdefault(key, (own[key], profile))
    for key, level in requested.items():
        if key in locked and locked[key][0] != level:
            held, owner = locked[key]
            errors.append(
                PlanError(
                    file,
                    f"{field}.{_text(key)}",
                    f"{kind.name(key)} is locked to {_text(held)} by profile {owner.ref}; remove the key or set it "
                    f"to {_text(held)}",
                    cluster,
                )
            )
            continue
        levels[key] = level
    return levels, errors
