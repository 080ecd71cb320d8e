"""Every rule and every error kind of the resolver, each in isolation."""

from __future__ import annotations

from typing import Any

import pytest

from packs.errors import PlanErrors
from packs.resolve import ClusterRequest, Provenance, ResolvedPlan, Resolver
from tests.catalogue_builder import facts, in_memory, pack, profile

ENV = "stacks/config/Pulumi.test.yaml"


def base_packs() -> list[dict[str, Any]]:
    return [
        pack(
            "os-a",
            "os",
            source={"kind": "managed", "service": "cluster", "name": "node-os"},
            namespace=None,
            requires=[],
        ),
        pack("cni-a", "cni"),
        pack("csi-a", "csi", provides=["storage-class"]),
        pack("crd-provider", provides=["crds:example.io"]),
        pack(
            "app",
            requires=["cni", "crds:example.io"],
            depends={"crd-provider": ">=1.0"},
            variables=[
                {
                    "name": "replicas",
                    "type": "integer",
                    "path": "replicaCount",
                    "description": "r",
                    "minimum": 1,
                    "maximum": 5,
                },
                {"name": "mode", "type": "string", "path": "mode", "description": "m", "allowed": ["a", "b"]},
                {
                    "name": "domain",
                    "type": "string",
                    "path": "dns.domain",
                    "description": "d",
                    "required": True,
                    "pattern": r"[a-z.]+",
                },
                {"name": "tag", "type": "string", "path": "image.tag", "description": "t"},
            ],
            overlays={"eks": {"cloud": "aws"}},
        ),
    ]


APP_VALUES = {
    "app": {
        "replicaCount": 1,
        "image": {"repository": "example/app", "tag": "1.0"},
        "cluster": "{{ cluster.name }}",
        "site": "site-{{ cluster.labels.site }}",
        "nodes": "{{ cluster.nodes }}",
        "mode": "a",
    }
}


def base_profile(**entry_extra: Any) -> dict[str, Any]:
    app_entry = {"pack": "app@1.0.0", "locks": ["image.tag"], "expose": ["replicas", "mode", "domain"]}
    app_entry.update(entry_extra)
    return profile(
        "base",
        [
            {"pack": "os-a@1.0.0"},
            {"pack": "cni-a@1.0.0"},
            {"pack": "csi-a@1.0.0"},
            {"pack": "app@1.0.0"} | app_entry,
            {"pack": "crd-provider@1.0.0"},
        ],
    )


def resolve(
    packs: list[dict[str, Any]] | None = None,
    profiles: list[dict[str, Any]] | None = None,
    values: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    refs: tuple[str, ...] = ("base@1.0.0",),
    **fact_args: Any,
) -> ResolvedPlan:
    catalogue = in_memory(packs or base_packs(), profiles or [base_profile()], APP_VALUES if values is None else values)
    fact_args.setdefault("labels", {"site": "s1"})
    fact_args.setdefault("nodes", 2)
    request = ClusterRequest(
        facts=facts(**fact_args),
        profiles=refs,
        variables={"app.domain": "example.com"} if variables is None else variables,
        overrides=overrides or {},
        file=ENV,
        field="clusters[0]",
    )
    return Resolver(catalogue).resolve(request)


def errors_of(**kwargs: Any) -> list[str]:
    with pytest.raises(PlanErrors) as info:
        resolve(**kwargs)
    return [str(e) for e in info.value.errors]


# ------------------------------------------------------------------------------------------ ordering


def test_layers_then_dependencies_and_capabilities() -> None:
    plan = resolve()
    order = [p.name for p in plan.packs]
    # The profile lists app before crd-provider; the dependency and the CRD capability reorder them.
    assert order == ["os-a", "cni-a", "csi-a", "crd-provider", "app"]
    app = plan.pack("app")
    # Transitively reduced: crd-provider already comes after csi-a, which comes after cni-a.
    assert app.after == ("crd-provider",)
    assert plan.pack("crd-provider").after == ("csi-a",)
    # os-a is a cluster setting: it creates nothing to wait for, so the CNI waits only for the cluster.
    assert plan.pack("cni-a").after == ()


def test_edges_reach_through_cluster_settings_to_packs_that_create_resources() -> None:
    """A cluster-setting CSI between a Helm CNI and the add-ons: the add-ons follow the CNI itself."""
    packs = base_packs()
    packs[2] = {**packs[2], "source": {"kind": "managed", "service": "cluster", "name": "storage"}, "namespace": None}
    plan = resolve(packs=packs)
    assert [p.name for p in plan.packs] == ["os-a", "cni-a", "csi-a", "crd-provider", "app"]
    assert plan.pack("crd-provider").after == ("cni-a",)
    assert plan.pack("app").after == ("crd-provider",)  # cni-a is implied through crd-provider
    assert plan.pack("csi-a").after == ("cni-a",)
    settings = {p.name for p in plan.packs if p.cluster_setting}
    assert settings == {"os-a", "csi-a"}
    assert not [p.name for p in plan.packs if settings & set(p.after)]


def test_crd_provider_ordered_before_user_without_explicit_dependency() -> None:
    packs = base_packs()
    packs[4] = {**packs[4], "depends": {}}
    plan = resolve(packs=packs)
    names = [p.name for p in plan.packs]
    assert names.index("crd-provider") < names.index("app")
    assert "crd-provider" in plan.pack("app").after


# ------------------------------------------------------------------------------- values/provenance


def test_values_merge_with_provenance_for_every_leaf() -> None:
    plan = resolve(target="eks", region="eu-west-1", variables={"app.replicas": 3, "app.domain": "example.com"})
    app = plan.pack("app")
    assert app.values["cloud"] == "aws"
    assert app.values["replicaCount"] == 3
    assert app.provenance["replicaCount"].source == "env-variable"
    assert app.provenance["replicaCount"].path == "clusters[0].variables.app.replicas"
    assert app.provenance["cloud"].source == "overlay"
    assert app.provenance["image.repository"].source == "pack"
    assert app.provenance["dns.domain"].source == "env-variable"
    from packs.paths import format_path, leaves

    assert {format_path(p) for p, _ in leaves(app.values)} == set(app.provenance)


def test_cluster_facts_are_substituted_and_whole_placeholders_keep_their_type() -> None:
    app = resolve(name="edge-17").pack("app")
    assert app.values["cluster"] == "edge-17"
    assert app.values["site"] == "site-s1"
    assert app.values["nodes"] == 2


def test_unknown_fact_names_the_value_file_and_path() -> None:
    values = {"app": {**APP_VALUES["app"], "zone": "{{ cluster.zone }}"}}
    errs = errors_of(values=values)
    assert any("packs/catalog/app/1.0.0/values.yaml: zone: unknown cluster fact 'zone'" in e for e in errs)


def test_extra_facts_are_available() -> None:
    values = {"app": {**APP_VALUES["app"], "rack": "{{ cluster.rack }}"}}
    app = resolve(values=values, extra={"rack": "r7"}).pack("app")
    assert app.values["rack"] == "r7"


def test_identity_placeholders_are_deferred_to_deploy() -> None:
    packs = base_packs()
    packs[4] = {**packs[4], "identity": {"service_account": "app"}}
    values = {
        "app": {
            **APP_VALUES["app"],
            "sa": {"annotations": {"eks.amazonaws.com/role-arn": "{{ identity.aws_role_arn }}"}},
        }
    }
    app = resolve(packs=packs, values=values).pack("app")
    assert app.deferred == ('sa.annotations["eks.amazonaws.com/role-arn"]',)
    assert app.values["sa"]["annotations"]["eks.amazonaws.com/role-arn"] == "{{ identity.aws_role_arn }}"


def test_identity_placeholder_without_identity_is_an_error() -> None:
    values = {"app": {**APP_VALUES["app"], "sa": "{{ identity.aws_role_arn }}"}}
    errs = errors_of(values=values)
    assert any("uses an identity placeholder but declares no identity" in e for e in errs)


def test_unknown_placeholder_namespace() -> None:
    values = {"app": {**APP_VALUES["app"], "x": "{{ secrets.token }}"}}
    assert any("unknown placeholder" in e for e in errors_of(values=values))


# ------------------------------------------------------------------------------------ error kinds


def test_unknown_pack_version_lists_known_versions() -> None:
    prof = base_profile()
    prof["layers"][1] = {"pack": "cni-a@9.9.9"}
    errs = errors_of(profiles=[prof])
    assert any(
        e.startswith("packs/profiles/base/1.0.0.yaml: layers[1].pack: unknown pack cni-a@9.9.9; known versions: 1.0.0")
        for e in errs
    )


def test_unknown_pack_name() -> None:
    prof = base_profile()
    prof["layers"].append({"pack": "nope@1.0.0"})
    assert any("unknown pack nope@1.0.0; no pack has that name" in e for e in errors_of(profiles=[prof]))


def test_unknown_profile() -> None:
    errs = errors_of(refs=("missing@1.0.0",))
    assert errs == [
        f"{ENV}: clusters[0].profiles[0]: unknown profile missing@1.0.0; no profile has that name [cluster c1]"
    ]


def test_kubernetes_version_outside_a_pack_range() -> None:
    packs = base_packs()
    packs[1] = {**packs[1], "constraints": {"targets": ["edge"], "kubernetes": ">=1.32"}}
    errs = errors_of(packs=packs, version="1.31")
    assert any(
        f"{ENV}: clusters[0].kubernetes_version: Kubernetes 1.31 is outside the range of pack cni-a@1.0.0 (>=1.32" in e
        for e in errs
    )


def test_unsupported_target() -> None:
    packs = base_packs()
    packs[2] = {**packs[2], "constraints": {"targets": ["eks"]}}
    errs = errors_of(packs=packs, target="edge")
    assert any("layers[2].pack: pack csi-a@1.0.0 does not support target edge (supports eks)" in e for e in errs)


def test_profile_target_mismatch() -> None:
    prof = base_profile() | {"targets": ["eks"]}
    errs = errors_of(profiles=[prof], target="gke")
    assert any("profile base@1.0.0 does not support target gke" in e for e in errs)


def test_missing_dependency() -> None:
    prof = base_profile()
    prof["layers"] = [entry for entry in prof["layers"] if entry["pack"] != "crd-provider@1.0.0"]
    errs = errors_of(profiles=[prof])
    assert any("depends.crd-provider: pack app@1.0.0 needs pack crd-provider (>=1.0)" in e for e in errs)
    assert any("requires[1]: pack app@1.0.0 requires capability 'crds:example.io'" in e for e in errs)


def test_dependency_version_mismatch() -> None:
    packs = base_packs()
    packs[4] = {**packs[4], "depends": {"crd-provider": ">=2"}}
    assert any("needs crd-provider >=2 but the plan has crd-provider@1.0.0" in e for e in errors_of(packs=packs))


def test_missing_capability() -> None:
    packs = base_packs()
    packs[4] = {**packs[4], "requires": ["cni", "ingress-class"]}
    errs = errors_of(packs=packs)
    assert any("requires capability 'ingress-class', which no pack of this cluster provides" in e for e in errs)


def test_capability_from_the_cluster_itself() -> None:
    packs = base_packs()
    packs[4] = {**packs[4], "requires": ["cni", "crds:example.io", "ingress-class"]}
    plan = resolve(packs=packs, capabilities=("ingress-class",))
    assert plan.pack("app").requires[-1] == "ingress-class"


def test_dependency_cycle() -> None:
    packs = base_packs()
    packs[3] = {**packs[3], "depends": {"app": ">=1"}}
    errs = errors_of(packs=packs)
    assert any("dependency cycle:" in e and "app" in e and "crd-provider" in e for e in errs)


def test_dependency_on_a_higher_layer() -> None:
    packs = base_packs()
    packs[2] = {**packs[2], "depends": {"app": ">=1"}}
    errs = errors_of(packs=packs)
    assert any("csi pack csi-a cannot depend on addon pack app" in e for e in errs)


def test_override_of_locked_path_is_rejected() -> None:
    errs = errors_of(overrides={"app": {"image": {"tag": "2.0"}}})
    assert errs == [
        f"{ENV}: clusters[0].overrides.app.image.tag: "
        "image.tag of pack app is locked by profile base@1.0.0 [cluster c1]"
    ]


def test_override_of_a_parent_of_a_locked_path_is_rejected() -> None:
    errs = errors_of(overrides={"app": {"image": "inline"}})
    assert any("image.tag of pack app is locked" in e for e in errs)


def test_unlocked_override_applies_with_provenance() -> None:
    app = resolve(overrides={"app": {"image": {"repository": "mirror/app"}}}).pack("app")
    assert app.values["image"] == {"repository": "mirror/app", "tag": "1.0"}
    assert app.provenance["image.repository"].source == "env-override"


def test_exposing_a_variable_on_a_locked_path_is_rejected() -> None:
    errs = errors_of(profiles=[base_profile(expose=["tag", "domain"])])
    assert any("variable 'tag' writes image.tag, which the profile locks (image.tag)" in e for e in errs)


def test_unknown_variable() -> None:
    errs = errors_of(variables={"app.domain": "x.io", "app.nope": 1})
    assert any("clusters[0].variables.app.nope: unknown variable 'nope' of pack app@1.0.0" in e for e in errs)


def test_variable_not_exposed() -> None:
    errs = errors_of(profiles=[base_profile(expose=["domain"])], variables={"app.domain": "x.io", "app.mode": "b"})
    assert any("variable app.mode is not exposed by profile base@1.0.0" in e for e in errs)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"app.replicas": "3"}, "expected integer, got str"),
        ({"app.replicas": True}, "expected integer, got boolean"),
        ({"app.replicas": 9}, "9 is above the maximum 5"),
        ({"app.replicas": 0}, "0 is below the minimum 1"),
        ({"app.mode": "c"}, "'c' is not one of ['a', 'b']"),
        ({"app.mode": "aa"}, "'aa' is not one of ['a', 'b']; did you mean 'a'?"),
        ({"app.domain": "NOT VALID"}, "does not match pattern"),
    ],
)
def test_variable_type_and_constraints(variables: dict[str, Any], message: str) -> None:
    merged = {"app.domain": "example.com", **variables}
    errs = errors_of(variables=merged)
    assert any(message in e for e in errs), errs


def test_required_variable_missing() -> None:
    errs = errors_of(variables={})
    assert errs == [
        f"{ENV}: clusters[0].variables.app.domain: "
        "pack app needs variable 'domain' on edge (required, no default) [cluster c1]"
    ]


def test_variable_required_on_one_target_only() -> None:
    packs = base_packs()
    extra = {"name": "sub", "type": "string", "path": "azure.sub", "description": "s", "required_on": ["eks"]}
    packs[4] = {**packs[4], "variables": [*packs[4]["variables"], extra]}
    assert resolve(packs=packs, target="edge").pack("app").values.get("azure") is None
    errs = errors_of(packs=packs, target="eks")
    assert any("pack app needs variable 'sub' on eks (required, no default)" in e for e in errs)


def test_placeholders_inside_lists_are_rendered() -> None:
    values = {
        "app": {**APP_VALUES["app"], "args": ["--owner={{ cluster.name }}", {"site": "{{ cluster.labels.site }}"}]}
    }
    app = resolve(values=values, name="c9").pack("app")
    assert app.values["args"] == ["--owner=c9", {"site": "s1"}]
    bad = {"app": {**APP_VALUES["app"], "args": ["{{ cluster.nope }}"]}}
    assert any("unknown cluster fact 'nope'" in e for e in errors_of(values=bad))


def test_profile_sets_unknown_variable() -> None:
    errs = errors_of(profiles=[base_profile(variables={"bogus": 1})])
    assert any("layers[3].variables.bogus: pack app@1.0.0 has no variable 'bogus'" in e for e in errs)


def test_two_packs_in_a_single_pack_layer() -> None:
    packs = [*base_packs(), pack("cni-b", "cni")]
    prof = base_profile()
    prof["layers"].insert(2, {"pack": "cni-b@1.0.0"})
    assert any(
        "the cni layer holds one pack per cluster; found cni-a, cni-b" in e
        for e in errors_of(packs=packs, profiles=[prof])
    )


def test_layers_out_of_order_in_profile() -> None:
    prof = base_profile()
    prof["layers"][1], prof["layers"][2] = prof["layers"][2], prof["layers"][1]
    assert any("cni pack cni-a is listed after csi pack csi-a" in e for e in errors_of(profiles=[prof]))


def test_addon_profile_holds_only_addons() -> None:
    addon = profile("extra", [{"pack": "cni-a@1.0.0"}], kind="addon")
    prof = base_profile()
    prof["layers"] = [e for e in prof["layers"] if e["pack"] != "cni-a@1.0.0"]
    errs = errors_of(profiles=[prof, addon], refs=("base@1.0.0", "extra@1.0.0"))
    assert any("add-on profiles hold only add-on packs; cni-a is cni" in e for e in errs)


def shared(entry: dict[str, Any], extra_packs: list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
    """Compose base with an add-on profile ``extra`` whose one entry names a pack base also has."""
    addon = profile("extra", [entry], kind="addon")
    packs = [*base_packs(), *(extra_packs or [])]
    return resolve(packs=packs, profiles=[base_profile(), addon], refs=("base@1.0.0", "extra@1.0.0"), **kwargs)


def shared_errors(entry: dict[str, Any], extra_packs: list[dict[str, Any]] | None = None, **kwargs: Any) -> list[str]:
    with pytest.raises(PlanErrors) as info:
        shared(entry, extra_packs, **kwargs)
    return [str(e) for e in info.value.errors]


def test_profiles_sharing_a_pack_at_one_version_compose() -> None:
    """Both profiles carry app@1.0.0: it is installed once, its values merge in profile order with provenance,
    and each profile's locks and exposure hold."""
    extra = {
        "pack": "app@1.0.0",
        "values": {"replicaCount": 2, "extra": {"from": "extra"}},
        "variables": {"replicas": 4},
        "locks": ["extra"],
        "expose": ["mode"],
    }
    plan = resolve(
        profiles=[base_profile(expose=["replicas", "domain"]), profile("extra", [extra], kind="addon")],
        refs=("base@1.0.0", "extra@1.0.0"),
        variables={"app.domain": "example.com", "app.mode": "b"},
    )
    assert [p.name for p in plan.packs].count("app") == 1
    app = plan.pack("app")
    assert app.profile == "base@1.0.0"  # the profile that brings the pack in
    assert (app.values["mode"], app.values["replicaCount"], app.values["extra"]) == ("b", 4, {"from": "extra"})
    extra_file = "packs/profiles/extra/1.0.0.yaml"
    assert app.provenance["extra.from"] == Provenance("profile", extra_file, "layers[0].values.extra.from")
    assert app.provenance["replicaCount"] == Provenance("profile-variable", extra_file, "layers[0].variables.replicas")
    assert app.provenance["mode"].source == "env-variable"  # exposed by extra only
    assert app.provenance["image.repository"].source == "pack"
    assert set(app.locks) == {"image.tag", "extra"}
    assert app.values["dns"]["domain"] == "example.com"  # exposed by base only
    # Neither profile's lock can be overridden, with the error naming the profile that holds it.
    errs = errors_of(
        profiles=[base_profile(), profile("extra", [{"pack": "app@1.0.0", "locks": ["extra"]}], kind="addon")],
        refs=("base@1.0.0", "extra@1.0.0"),
        overrides={"app": {"extra": {"x": 1}, "image": {"tag": "9"}}},
    )
    assert (
        f"{ENV}: clusters[0].overrides.app.extra.x: extra of pack app is locked by profile extra@1.0.0 [cluster c1]"
        in errs
    )
    assert any("image.tag of pack app is locked by profile base@1.0.0" in e for e in errs)


def test_a_shared_pack_lists_every_profile_when_a_variable_is_not_exposed() -> None:
    errs = shared_errors({"pack": "app@1.0.0"}, variables={"app.domain": "x.io", "app.tag": "2"})
    assert any("variable app.tag is not exposed by profile base@1.0.0 or extra@1.0.0" in e for e in errs), errs


def test_a_shared_pack_locked_to_different_values_names_both_profiles() -> None:
    # base locks image.tag at "1.0" (the pack's value); extra sets and locks it at "2.0".
    errs = shared_errors({"pack": "app@1.0.0", "values": {"image": {"tag": "2.0"}}, "locks": ["image.tag"]})
    assert errs == [
        'packs/profiles/extra/1.0.0.yaml: layers[0].values.image.tag: image.tag of pack app is locked to "1.0" by '
        "profile base@1.0.0 (packs/profiles/base/1.0.0.yaml: layers[3].locks); profile extra@1.0.0 sets it to "
        '"2.0", and locks it too. Profiles composed on one cluster must agree on a locked value: set the same '
        "value in both, or compose only one of them [cluster c1]"
    ]
    # Changing a locked value without locking it is the same conflict; a variable writing it too.
    assert any(
        "image.tag of pack app is locked to" in e
        for e in shared_errors({"pack": "app@1.0.0", "values": {"image": "x"}})
    )
    assert any(
        "layers[0].variables.tag: image.tag of pack app is locked to" in e
        for e in shared_errors({"pack": "app@1.0.0", "variables": {"tag": "3"}})
    )


def test_a_shared_pack_locked_by_both_to_the_same_value_composes() -> None:
    app = shared({"pack": "app@1.0.0", "values": {"image": {"tag": "1.0"}}, "locks": ["image.tag"]}).pack("app")
    assert app.values["image"]["tag"] == "1.0" and app.locks == ("image.tag",)


def test_exposing_a_variable_another_profile_locks_is_rejected() -> None:
    errs = shared_errors({"pack": "app@1.0.0", "expose": ["tag"]})
    assert any(
        "packs/profiles/extra/1.0.0.yaml: layers[0].expose: variable 'tag' writes image.tag, which profile base@1.0.0 "
        "locks (packs/profiles/base/1.0.0.yaml: layers[3].locks) (image.tag)" in e
        for e in errs
    ), errs


def test_two_versions_of_a_shared_pack_are_a_conflict_naming_both_profiles() -> None:
    newer = pack("crd-provider", version="2.0.0", provides=["crds:example.io"])
    errs = shared_errors({"pack": "crd-provider@2.0.0"}, extra_packs=[newer])
    assert errs == [
        "packs/profiles/extra/1.0.0.yaml: layers[0].pack: profile extra@1.0.0 names crd-provider@2.0.0 but profile "
        "base@1.0.0 names crd-provider@1.0.0 (packs/profiles/base/1.0.0.yaml: layers[4].pack); a cluster runs one "
        "version of a pack, so profiles composed on it must name the same one: use versions of these profiles that "
        "agree on crd-provider, or compose only one of them [cluster c1]"
    ]


def test_a_profile_listed_twice_is_an_error() -> None:
    addon = profile("extra", [{"pack": "crd-provider@1.0.0"}], kind="addon")
    addon2 = profile("extra", [{"pack": "crd-provider@1.0.0"}], kind="addon", version="1.1.0")
    errs = errors_of(profiles=[base_profile(), addon, addon2], refs=("base@1.0.0", "extra@1.0.0", "extra@1.1.0"))
    assert errs == [
        f"{ENV}: clusters[0].profiles[2]: profile extra is already listed at profiles[1] (extra@1.0.0); list each "
        "profile once, at one version [cluster c1]"
    ]


def test_infrastructure_profile_must_come_first() -> None:
    addon = profile("extra", [{"pack": "crd-provider@1.0.0"}], kind="addon")
    prof = base_profile()
    prof["layers"] = [e for e in prof["layers"] if e["pack"] != "crd-provider@1.0.0"]
    errs = errors_of(profiles=[prof, addon], refs=("extra@1.0.0", "base@1.0.0"))
    assert any("infrastructure profile base@1.0.0 must come first" in e for e in errs)


def test_add_on_profile_composes_with_infrastructure() -> None:
    addon = profile("extra", [{"pack": "crd-provider@1.0.0"}], kind="addon")
    prof = base_profile()
    prof["layers"] = [e for e in prof["layers"] if e["pack"] != "crd-provider@1.0.0"]
    plan = resolve(profiles=[prof, addon], refs=("base@1.0.0", "extra@1.0.0"))
    assert plan.pack("crd-provider").profile == "extra@1.0.0"
    assert [p.name for p in plan.packs][-2:] == ["crd-provider", "app"]


def test_target_filtered_entries() -> None:
    packs = [*base_packs(), pack("cloud-only", constraints={"targets": ["eks"]})]
    prof = base_profile()
    prof["layers"].append({"pack": "cloud-only@1.0.0", "targets": ["eks"]})
    assert "cloud-only" in [p.name for p in resolve(packs=packs, profiles=[prof], target="eks").packs]
    assert "cloud-only" not in [p.name for p in resolve(packs=packs, profiles=[prof], target="edge").packs]


def test_capacity_is_checked() -> None:
    packs = base_packs()
    packs[4] = {
        **packs[4],
        "constraints": {"targets": ["eks", "edge"], "resources": {"nodes": 3, "cpu_millicores": 1500}},
    }
    errs = errors_of(packs=packs, nodes=1, cpu_millicores=1000)
    assert any("clusters[0].nodes: pack app@1.0.0 needs 3 node(s) but the cluster has 1" in e for e in errs)
    assert any(
        "clusters[0].cpu_millicores: the plan's packs request 1500m CPU but the cluster has 1000" in e for e in errs
    )


def test_all_errors_are_collected_in_one_run() -> None:
    errs = errors_of(variables={"app.replicas": 99, "app.mode": "z"}, overrides={"app": {"image": {"tag": "x"}}})
    assert len(errs) == 4  # replicas, mode, locked override, missing domain


def request_for(name: str = "c1", **fact_args: Any) -> ClusterRequest:
    fact_args.setdefault("labels", {"site": "s1"})
    fact_args.setdefault("nodes", 2)
    return ClusterRequest(
        facts(name, **fact_args),
        ("base@1.0.0",),
        variables={"app.domain": "example.com"},
        file=ENV,
        field="clusters[0]",
    )


def counting_compilations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The clusters whose resolution had to compile their composition (rather than reuse a cached one)."""
    compiled: list[str] = []
    original = Resolver._compile

    def counting(self: Resolver, request: ClusterRequest) -> Any:
        compiled.append(request.facts.name)
        return original(self, request)

    monkeypatch.setattr(Resolver, "_compile", counting)
    return compiled


def test_resolution_is_deterministic_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = counting_compilations(monkeypatch)
    resolver = Resolver(in_memory(base_packs(), [base_profile()], APP_VALUES))
    first = resolver.resolve(request_for("c1"))
    second = resolver.resolve(request_for("c2", labels={"site": "s2"}))
    again = resolver.resolve(request_for("c1"))
    assert compiled == ["c1"]  # c2 and the second c1 reuse the composition compiled for c1
    # The cache holds what clusters share; what is each cluster's own is still applied per cluster...
    assert (second.pack("app").values["cluster"], second.pack("app").values["site"]) == ("c2", "site-s2")
    # ...without leaking into another cluster's plan, and a fresh resolver computes the very same plan.
    assert (first.pack("app").values["cluster"], first.pack("app").values["site"]) == ("c1", "site-s1")
    assert first.as_dict(explain=True) == again.as_dict(explain=True)
    assert Resolver(resolver.catalogue).resolve(request_for("c1")).as_dict(explain=True) == again.as_dict(explain=True)


@pytest.mark.parametrize(
    ("fits", "misfits", "message"),
    [
        ({"version": "1.32"}, {"version": "1.31"}, "Kubernetes 1.31 is outside the range of pack cni-a@1.0.0"),
        ({"target": "edge"}, {"target": "gke"}, "pack cni-a@1.0.0 does not support target gke"),
        (
            {"capabilities": ("ingress-class",)},
            {"capabilities": ()},
            "requires capability 'ingress-class', which no pack of this cluster provides",
        ),
    ],
)
def test_a_cached_composition_is_never_reused_for_different_cluster_facts(
    monkeypatch: pytest.MonkeyPatch, fits: dict[str, Any], misfits: dict[str, Any], message: str
) -> None:
    """A fleet resolves thousands of clusters through one resolver: a composition checked for one Kubernetes
    version, target or set of built-in capabilities says nothing about another."""
    packs = base_packs()
    packs[1] = {**packs[1], "constraints": {"targets": ["eks", "edge"], "kubernetes": ">=1.32"}}
    packs[4] = {**packs[4], "requires": ["cni", "crds:example.io", "ingress-class"]}
    resolver = Resolver(in_memory(packs, [base_profile()], APP_VALUES))
    base = {"version": "1.32", "target": "edge", "capabilities": ("ingress-class",)}
    compiled = counting_compilations(monkeypatch)
    resolver.resolve(request_for("c1", **(base | fits)))
    resolver.resolve(request_for("c2", **(base | fits)))
    assert compiled == ["c1"]
    with pytest.raises(PlanErrors) as info:
        resolver.resolve(request_for("c3", **(base | misfits)))
    assert any(message in str(e) and e.cluster == "c3" for e in info.value.errors), info.value.errors


def secret_packs() -> list[dict[str, Any]]:
    packs = base_packs()
    secret = {"name": "password", "type": "string", "path": "auth.password", "description": "p", "secret": True}
    packs[4] = {**packs[4], "variables": [*packs[4]["variables"], secret]}
    return packs


def test_secret_variable_carries_only_a_reference() -> None:
    profiles = [base_profile(expose=["domain", "password"])]
    variables = {"app.domain": "example.com", "app.password": {"env": "APP_PASSWORD"}}
    app = resolve(packs=secret_packs(), profiles=profiles, variables=variables).pack("app")
    assert app.values["auth"]["password"] == "{{ secret.password }}"
    assert app.deferred == ("auth.password",)
    assert app.secrets["password"].env == "APP_PASSWORD"
    assert app.as_dict()["secrets"] == {"password": {"env": "APP_PASSWORD"}}


def test_secret_variable_rejects_a_literal_value() -> None:
    profiles = [base_profile(expose=["domain", "password"])]
    errs = errors_of(
        packs=secret_packs(), profiles=profiles, variables={"app.domain": "x.io", "app.password": "hunter2"}
    )
    assert any("a secret variable takes a reference such as {env: NAME}" in e for e in errs)
    assert not any("hunter2" in e for e in errs)


def test_profiles_cannot_set_secret_variables() -> None:
    errs = errors_of(packs=secret_packs(), profiles=[base_profile(variables={"password": {"env": "X"}})])
    assert any("secret variables are set by environments, never in a shared profile" in e for e in errs)


def test_secret_placeholders_cannot_be_written_by_hand() -> None:
    values = {"app": {**APP_VALUES["app"], "token": "{{ secret.token }}"}}
    errs = errors_of(values=values)
    assert any("secret placeholders come only from secret variables" in e for e in errs)
