"""Drift actions and policy levels are decided by one rule (packs/levels.py), with the same errors word for word."""

from __future__ import annotations

from typing import Any

import pytest

from packs.drift import DRIFT, resolve_drift
from packs.levels import resolve_levels
from packs.model import DriftAction, Layer, Profile
from policy.rules import RULES, Level
from stacks.policy import POLICY
from stacks.policy import resolve_levels as policy_levels
from tests.catalogue_builder import profile


def _profile(name: str, **settings: Any) -> Profile:
    return Profile.model_validate(profile(name, [{"pack": "web@1.0.0"}], **settings))


def test_crossed_drift_locks_name_both_profiles_and_the_environment_key() -> None:
    base = _profile("base", drift={"layers": {"cni": "heal"}, "locks": ["cni"]})
    later = _profile("later", drift={"layers": {"cni": "ignore", "os": "ignore"}})
    requested = {Layer.CNI: DriftAction.ALERT, Layer.CSI: DriftAction.HEAL}
    found, errors = resolve_drift([(base, "b.yaml"), (later, "l.yaml")], requested, "e", "f", "c1")
    assert found == {
        Layer.OS: DriftAction.IGNORE,
        Layer.KUBERNETES: DriftAction.ALERT,
        Layer.CNI: DriftAction.HEAL,
        Layer.CSI: DriftAction.HEAL,
        Layer.ADDON: DriftAction.ALERT,
    }
    assert [(e.file, e.path, e.message, e.cluster) for e in errors] == [
        ("l.yaml", "drift.layers.cni",
         "profile later@1.0.0 sets drift of layer cni to ignore, but profile base@1.0.0 locks it to heal", "c1"),
        ("e", "f.cni",
         "drift of layer cni is locked to heal by profile base@1.0.0; remove the key or set it to heal", "c1"),
    ]


def test_crossed_policy_locks_read_as_drift_ones_do() -> None:
    base = _profile("base", policy={"rules": {"eks-audit-logs": "mandatory"}, "locks": ["eks-audit-logs"]})
    later = _profile("later", policy={"rules": {"eks-audit-logs": "disabled"}})
    found, errors = policy_levels(False, [(base, "b.yaml"), (later, "l.yaml")], {"eks-audit-logs": Level.ADVISORY}, "e")
    assert found["eks-audit-logs"] is Level.MANDATORY
    assert [(e.file, e.path, e.message, e.cluster) for e in errors] == [
        ("l.yaml", "policy.rules.eks-audit-logs",
         "profile later@1.0.0 sets policy rule eks-audit-logs to disabled, but profile base@1.0.0 locks it to "
         "mandatory", None),
        ("e", 'config."strata:policy".rules.eks-audit-logs',
         "policy rule eks-audit-logs is locked to mandatory by profile base@1.0.0; remove the key or set it to "
         "mandatory", None),
    ]


@pytest.mark.parametrize("production", [False, True])
def test_policy_defaults_follow_production(production: bool) -> None:
    found, errors = policy_levels(production, [], {}, "e")
    assert not errors and set(found) == set(RULES)
    assert set(found.values()) == {Level.MANDATORY if production else Level.ADVISORY}


def test_a_profile_agreeing_with_a_lock_and_an_environment_repeating_it_are_fine() -> None:
    base = _profile("base", drift={"layers": {"os": "ignore"}, "locks": ["os"]})
    same = _profile("same", drift={"layers": {"os": "ignore"}})
    found, errors = resolve_levels(DRIFT, {}, [(base, "b"), (same, "s")], {Layer.OS: DriftAction.IGNORE}, "e", "f")
    assert found == {Layer.OS: DriftAction.IGNORE} and errors == []


def test_the_first_lock_wins_and_the_defaults_are_not_changed() -> None:
    first = _profile("first", policy={"rules": {"eks-audit-logs": "advisory"}, "locks": ["eks-audit-logs"]})
    second = _profile("second", policy={"rules": {"eks-audit-logs": "mandatory"}, "locks": ["eks-audit-logs"]})
    defaults = {"eks-audit-logs": Level.DISABLED}
    requested = {"eks-audit-logs": Level.MANDATORY}
    found, errors = resolve_levels(POLICY, defaults, [(first, "a"), (second, "b")], requested, "e", "f")
    assert found == {"eks-audit-logs": Level.ADVISORY}
    assert [e.file for e in errors] == ["b", "e"]
    assert "locked to advisory by profile first@1.0.0" in errors[1].message
    assert defaults == {"eks-audit-logs": Level.DISABLED}
