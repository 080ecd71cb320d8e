"""Drift policy per layer: profile defaults and locks, the environment's strata:drift, in the plan JSON."""

from __future__ import annotations

from packs.catalogue import load_catalogue
from packs.drift import resolve_drift
from packs.model import DriftAction, DriftPolicy, Layer, Profile, ProfileEntry, ProfileKind, Target
from stacks.plan import plan_environment

H, A, IG = DriftAction.HEAL, DriftAction.ALERT, DriftAction.IGNORE


def profile(name: str, layers: dict[Layer, DriftAction], locks: tuple[Layer, ...] = ()) -> Profile:
    return Profile(
        name=name,
        version="1.0.0",
        description="t",
        kind=ProfileKind.INFRASTRUCTURE,
        targets=(Target.EDGE,),
        layers=(ProfileEntry(pack="k3s@1.34.1"),),
        drift=DriftPolicy(layers=layers, locks=locks),
    )


def test_unset_layers_alert_then_profiles_then_environment() -> None:
    base = profile("base", {Layer.OS: IG, Layer.CNI: H})
    extra = profile("extra", {Layer.CNI: A})
    policy, errors = resolve_drift([(base, "b.yaml"), (extra, "e.yaml")], {Layer.ADDON: H}, "env.yaml", "f")
    assert not errors
    assert policy == {Layer.OS: IG, Layer.KUBERNETES: A, Layer.CNI: A, Layer.CSI: A, Layer.ADDON: H}


def test_a_locked_layer_cannot_be_changed() -> None:
    base = profile("base", {Layer.KUBERNETES: A}, (Layer.KUBERNETES,))
    other = profile("other", {Layer.KUBERNETES: H})
    policy, errors = resolve_drift([(base, "b.yaml"), (other, "o.yaml")], {Layer.KUBERNETES: H}, "env.yaml", "f")
    assert policy[Layer.KUBERNETES] is A
    assert [(e.file, e.path) for e in errors] == [("o.yaml", "drift.layers.kubernetes"), ("env.yaml", "f.kubernetes")]
    assert "locked to alert by profile base@1.0.0" in errors[1].message
    same, ok = resolve_drift([(base, "b.yaml")], {Layer.KUBERNETES: A}, "env.yaml", "f")
    assert not ok and same[Layer.KUBERNETES] is A


def test_edge_plan_shows_the_environment_policy() -> None:
    plan = plan_environment("edge", "eu-west-fr-00001", catalogue=load_catalogue())
    doc = plan.as_dict()["clusters"][0]
    assert doc["drift"] == {"os": "ignore", "kubernetes": "alert", "cni": "heal", "csi": "heal", "addon": "heal"}
    local = plan_environment("local").as_dict()["clusters"][0]
    assert set(local["drift"].values()) == {"alert"}
