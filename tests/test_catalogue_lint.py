"""The shipped catalogue: every pack and profile valid, immutable once released, and every profile resolvable
on every target it claims."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from pydantic import BaseModel

from components.clusters.spec import SUPPORTED_KUBERNETES
from packs import lock
from packs.catalogue import PACKS_DIR, Catalogue, load_catalogue
from packs.errors import PlanError, PlanErrors
from packs.model import EXACT_VERSION, ClusterFacts, Profile, ProfileKind, Target
from packs.resolve import ClusterRequest, Resolver
from tests.catalogue_builder import on_disk, pack

CATALOGUE: Catalogue = load_catalogue()
MINORS = [f"1.{m}" for m in range(25, 40)]


def test_catalogue_is_substantial() -> None:
    in_cluster = [p for p in CATALOGUE.packs.values() if p.pack.layer.value not in ("os", "kubernetes")]
    assert len(in_cluster) >= 14
    kinds = {p.kind for p in (c.profile for c in CATALOGUE.profiles.values())}
    assert kinds == {ProfileKind.INFRASTRUCTURE, ProfileKind.ADDON}


#: Pins that are not one exact version: a range, a wildcard, a partial version, a tag, an alternative.
NOT_EXACT = (">=1.2.3", "1.2.*", "1.2", "latest", "^1.2.3", "~1.2.3", "1.2.3 || 1.3.0", "")


def test_every_source_version_is_exact() -> None:
    """Read from the raw files (not through the model that would refuse them), every pinned version is exact."""
    files = sorted((PACKS_DIR / "catalog").glob("*/*/pack.yaml"))
    assert len(files) == len(CATALOGUE.packs)
    pinned = 0
    for file in files:
        source = yaml.safe_load(file.read_text())["source"]
        if source["kind"] == "helm" or "version" in source:
            assert isinstance(source.get("version"), str), f"{file}: source.version must be a quoted exact version"
            assert re.match(EXACT_VERSION, source["version"]), f"{file}: {source['version']!r} is not exact"
            pinned += 1
    assert pinned >= 14


@pytest.mark.parametrize("version", NOT_EXACT)
@pytest.mark.parametrize("kind", ["helm", "eks-addon"])
def test_the_catalogue_refuses_a_version_that_is_not_exact(tmp_path: Path, version: str, kind: str) -> None:
    """The same rule, shown to bite: a pack pinned to anything but one version never loads."""
    source: dict[str, Any] = {"kind": "helm", "repository": "https://charts.example.com", "chart": "web"}
    if kind != "helm":
        source = {"kind": "managed", "service": kind, "name": "web"}
    assert not re.match(EXACT_VERSION, version)
    with pytest.raises(PlanErrors) as info:
        load_catalogue(on_disk(tmp_path, [pack("web", source={**source, "version": version})], []))
    (error,) = info.value.errors
    assert error.file.endswith("catalog/web/1.0.0/pack.yaml")
    assert error.path.startswith("source") and error.path.endswith("version")
    assert "is not an exact version" in error.message


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
        extra: dict[str, str | int | float | bool] = {"project": "lint-project-1"} if target is Target.GKE else {}
        facts = ClusterFacts(
            name="lint", target=target, kubernetes_version=version, capabilities=capabilities, extra=extra
        )
        _, errors = Resolver(CATALOGUE).try_resolve(ClusterRequest(facts, refs))
        errors = [e for e in errors if "(required, no default)" not in e.message]
        if not errors:
            return version, []
    return None, errors


def _newest() -> list[Profile]:
    """The newest version of every profile: what a new cluster composes today (released ones never change)."""
    newest: dict[str, Profile] = {}
    for c in CATALOGUE.profiles.values():
        p = c.profile
        if p.name not in newest or Version(p.version) > Version(newest[p.name].version):
            newest[p.name] = p
    return list(newest.values())


def _compositions() -> list[tuple[tuple[str, ...], Target]]:
    """Every profile alone, and every add-on profile over the newest version of every base it can sit on."""
    profiles = [c.profile for c in CATALOGUE.profiles.values()]
    infra = [p for p in _newest() if p.kind is ProfileKind.INFRASTRUCTURE]
    cases: list[tuple[tuple[str, ...], Target]] = []
    for p in profiles:
        for target in p.targets:
            if p.kind is ProfileKind.INFRASTRUCTURE or target is Target.EXISTING:
                cases.append(((p.ref,), target))
            else:
                cases.extend(((b.ref, p.ref), target) for b in infra if target in b.targets)
    return cases


@pytest.mark.parametrize(("refs", "target"), _compositions(), ids=lambda v: v if isinstance(v, str) else str(v))
def test_every_profile_resolves_on_every_claimed_target(refs: tuple[str, ...], target: Target) -> None:
    version, errors = _try(refs, target)
    assert version is not None, "\n".join(map(str, errors))


def test_cluster_setting_packs_match_what_components_read() -> None:
    from components.clusters import spec as specs

    models: dict[Target, type[BaseModel]] = {
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


def _versions_on(profile: Profile, target: Target) -> dict[str, str]:
    return {e.pack_name: e.pack_version for e in profile.layers if e.targets is None or target in e.targets}


def test_profiles_that_share_a_pack_name_the_same_version() -> None:
    """Two profiles may carry the same pack (it is installed once, values merged in profile order), but only at
    one version: two versions on one cluster cannot compose. Compared: the newest version of every pair of
    different profiles that could sit on one cluster (two versions of one profile are never composed)."""
    problems = []
    for a, b in itertools.combinations(_newest(), 2):
        if a.kind is ProfileKind.INFRASTRUCTURE and b.kind is ProfileKind.INFRASTRUCTURE:
            continue  # a cluster has one infrastructure profile
        for target in sorted(set(a.targets) & set(b.targets)):
            mine, theirs = _versions_on(a, target), _versions_on(b, target)
            for name in sorted(set(mine) & set(theirs)):
                if mine[name] != theirs[name]:
                    problems.append(
                        f"{a.ref} carries {name}@{mine[name]} and {b.ref} carries {name}@{theirs[name]} on "
                        f"{target.value}: release a version of one of them that names the other's {name}"
                    )
    assert not problems, "\n".join(problems)


def test_the_composition_lint_compares_versions_but_never_a_profile_with_itself() -> None:
    """The lint's own rules, on a small catalogue: a shared pack at one version passes; two versions fail; a new
    version of an add-on profile is never compared with its older version (they are never composed)."""
    from tests.catalogue_builder import in_memory, profile

    packs = [pack("loki", version=v) for v in ("1.0.0", "2.0.0")]
    profiles = [
        profile("base", [{"pack": "loki@1.0.0"}]),
        profile("logs", [{"pack": "loki@1.0.0"}], kind="addon"),
        profile("logs", [{"pack": "loki@2.0.0"}], kind="addon", version="1.1.0"),
    ]
    global CATALOGUE
    saved = CATALOGUE
    try:
        CATALOGUE = in_memory(packs, profiles[:2])
        test_profiles_that_share_a_pack_name_the_same_version()  # shared at one version: fine
        CATALOGUE = in_memory(packs, profiles)
        with pytest.raises(AssertionError, match=r"base@1.0.0 carries loki@1.0.0 and logs@1.1.0 carries loki@2.0.0"):
            test_profiles_that_share_a_pack_name_the_same_version()
        CATALOGUE = in_memory(packs, profiles[1:])  # only the two versions of logs
        test_profiles_that_share_a_pack_name_the_same_version()
    finally:
        CATALOGUE = saved


def test_production_hardened_composes_with_observability() -> None:
    """Both carry loki and fluent-bit at the same versions: each prod cluster can add observability, and each
    shared pack is then installed once."""
    from stacks.environment import load_environment

    observability = next(p.ref for p in _newest() if p.name == "observability")
    hardened = "production-hardened@"
    entries = [e for e in load_environment("prod").clusters if any(r.startswith(hardened) for r in e.spec.profiles)]
    assert {e.spec.target.value for e in entries} == {"eks", "aks", "gke"}
    for e in entries:
        spec = e.spec
        request = ClusterRequest(spec.facts_for_plan(), (*spec.profiles, observability), variables=spec.variables)
        plan, errors = Resolver(CATALOGUE).try_resolve(request)
        assert plan is not None, "\n".join(map(str, errors))
        names = [p.name for p in plan.packs]
        assert names.count("loki") == names.count("fluent-bit") == 1
        assert plan.pack("loki").profile.startswith("production-hardened@")


def test_settings_defaults_are_valid() -> None:
    """A profile without a cluster-setting pack for a group gets the component's documented default."""
    from components.clusters import spec as specs

    for model in (specs.EksSettings, specs.AksSettings, specs.GkeSettings, specs.EdgeSettings):
        model.model_validate({})
