"""The shipped catalogue: every pack and profile valid, immutable once released, and every profile resolvable
on every target it claims."""

from __future__ import annotations

import itertools

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from components.clusters.spec import SUPPORTED_KUBERNETES
from packs import lock
from packs.catalogue import Catalogue, load_catalogue
from packs.errors import PlanError
from packs.model import EXACT_VERSION, ClusterFacts, ProfileKind, Target
from packs.resolve import ClusterRequest, Resolver

CATALOGUE: Catalogue = load_catalogue()
MINORS = [f"1.{m}" for m in range(25, 40)]


def test_catalogue_is_substantial() -> None:
    in_cluster = [p for p in CATALOGUE.packs.values() if p.pack.layer.value not in ("os", "kubernetes")]
    assert len(in_cluster) >= 14
    kinds = {p.kind for p in (c.profile for c in CATALOGUE.profiles.values())}
    assert kinds == {ProfileKind.INFRASTRUCTURE, ProfileKind.ADDON}


def test_every_source_version_is_exact() -> None:
    import re

    for loaded in CATALOGUE.packs.values():
        version = getattr(loaded.pack.source, "version", None)
        if loaded.pack.source.kind == "helm":
            assert version and re.match(EXACT_VERSION, version), loaded.file


def test_released_versions_are_immutable_and_recorded() -> None:
    edited, new = lock.changed()
    assert not edited, f"released versions were edited in place (make a new version): {edited}"
    assert not new, f"new versions are not recorded; run `python -m packs.lock`: {new}"


def _kubernetes_versions(target: Target) -> list[str]:
    return [m for m in MINORS if Version(m) in SpecifierSet(SUPPORTED_KUBERNETES[target])]


def _try(refs: tuple[str, ...], target: Target) -> tuple[str | None, list[PlanError]]:
    """Resolve on the newest Kubernetes version that works; required variables are the environment's job."""
    errors: list[PlanError] = []
    capabilities = ("cni", "storage-class") if target is Target.EXISTING else ()
    for version in reversed(_kubernetes_versions(target)):
        # Facts every cluster of the target has (a GKE cluster always knows its project).
        extra = {"project": "lint-project-1"} if target is Target.GKE else {}
        facts = ClusterFacts(
            name="lint", target=target, kubernetes_version=version, capabilities=capabilities, extra=extra
        )
        _, errors = Resolver(CATALOGUE).try_resolve(ClusterRequest(facts, refs))
        errors = [e for e in errors if "(required, no default)" not in e.message]
        if not errors:
            return version, []
    return None, errors


def _compositions() -> list[tuple[tuple[str, ...], Target]]:
    profiles = [c.profile for c in CATALOGUE.profiles.values()]
    infra = [p for p in profiles if p.kind is ProfileKind.INFRASTRUCTURE]
    cases = []
    for p in profiles:
        for target in p.targets:
            if p.kind is ProfileKind.INFRASTRUCTURE or target is Target.EXISTING:
                cases.append(((p.ref,), target))
            else:
                bases = [b for b in infra if target in b.targets]
                cases.extend(((b.ref, p.ref), target) for b in bases[:1])
    return cases


@pytest.mark.parametrize(("refs", "target"), _compositions(), ids=lambda v: v if isinstance(v, str) else str(v))
def test_every_profile_resolves_on_every_claimed_target(refs: tuple[str, ...], target: Target) -> None:
    version, errors = _try(refs, target)
    assert version is not None, "\n".join(map(str, errors))


def test_cluster_setting_packs_match_what_components_read() -> None:
    from components.clusters import spec as specs

    models = {
        Target.EKS: specs.EksSettings,
        Target.AKS: specs.AksSettings,
        Target.GKE: specs.GkeSettings,
        Target.EDGE: specs.EdgeSettings,
    }
    for loaded in CATALOGUE.packs.values():
        p = loaded.pack
        if p.source.kind != "managed" or p.source.service.value != "cluster":
            continue
        for target in p.constraints.targets:
            model = models.get(target)
            assert model is not None, f"{loaded.file}: cluster settings for {target.value}, which reads none"
            values = dict(loaded.values)
            values.update(p.overlays.get(target, {}))
            model.model_validate({p.source.name: values})


def test_profiles_do_not_repeat_packs_that_compose() -> None:
    addons = [c.profile for c in CATALOGUE.profiles.values() if c.profile.kind is ProfileKind.ADDON]
    for a, b in itertools.combinations(addons, 2):
        if set(a.targets) & set(b.targets):
            shared = {e.pack_name for e in a.layers} & {e.pack_name for e in b.layers}
            assert not shared, f"{a.ref} and {b.ref} both carry {shared}; they could not be composed"


def test_settings_defaults_are_valid() -> None:
    """A profile without a cluster-setting pack for a group gets the component's documented default."""
    from components.clusters import spec as specs

    for model in (specs.EksSettings, specs.AksSettings, specs.GkeSettings, specs.EdgeSettings):
        model.model_validate({})
