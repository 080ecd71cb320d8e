"""Property-based tests of the resolver over randomly generated catalogues, profiles and environments."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packs.errors import PlanErrors
from packs.paths import format_path, get, is_prefix, leaves
from packs.resolve import ClusterRequest, ResolvedPlan, Resolver
from tests.catalogue_builder import facts, in_memory, pack, profile

KEYS = st.sampled_from(["a", "b", "c", "replicas", "image", "tag", "x.y"])
SCALARS = st.one_of(
    st.integers(-5, 5), st.booleans(), st.text("abc", max_size=3), st.lists(st.integers(0, 3), max_size=2)
)
TREES = st.recursive(
    SCALARS, lambda children: st.dictionaries(KEYS, children, min_size=1, max_size=3), max_leaves=8
).filter(lambda t: isinstance(t, dict))


RANK = {"os": 0, "kubernetes": 1, "cni": 2, "csi": 3, "addon": 4}
#: How a pack is realised: a cluster setting creates no resource; an EKS add-on and a chart do.
SOURCES = {
    "helm": None,
    "setting": {"kind": "managed", "service": "cluster", "name": "settings"},
    "eks-addon": {"kind": "managed", "service": "eks-addon", "name": "addon"},
}


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    rest = draw(st.lists(st.sampled_from(["csi", "addon"]), min_size=n, max_size=n))
    base = [layer for layer in ("os", "kubernetes") if draw(st.booleans())]
    layers = [*base, "cni", *sorted(rest, key=["csi", "addon"].index)]
    names = [f"p{i}" for i in range(len(layers))]
    rank = RANK
    docs = []
    for i, (name, layer) in enumerate(zip(names, layers, strict=True)):
        earlier = [j for j in range(i) if rank[layers[j]] <= rank[layer]]
        deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        provides = [f"cap-{name}"] if draw(st.booleans()) else []
        capable = [f"cap-{names[j]}" for j in earlier]
        requires = draw(st.lists(st.sampled_from(capable), unique=True, max_size=2)) if capable else []
        extra: dict[str, Any] = {"depends": {names[j]: ">=1.0" for j in deps}}
        kind = "setting" if layer in ("os", "kubernetes") else draw(st.sampled_from(sorted(SOURCES)))
        if SOURCES[kind] is not None:
            extra["source"] = SOURCES[kind]
            extra["namespace"] = None
        if layer in ("os", "kubernetes"):
            extra["provides"], extra["requires"] = provides, requires
        elif layer == "cni":
            extra["provides"] = ["cni", *provides]
            extra["requires"] = requires
        else:
            extra["provides"] = provides
            extra["requires"] = ["cni", *requires]
        docs.append(pack(name, layer, **extra))
    # Packs that require a capability must have a provider: make each required capability's pack provide it.
    provided = {c for d in docs for c in d.get("provides", [])}
    for d in docs:
        for cap in d.get("requires", []):
            if cap not in provided:
                owner = next(x for x in docs if f"cap-{x['name']}" == cap)
                owner["provides"] = [*owner.get("provides", []), cap]
                provided.add(cap)
    values = {name: draw(TREES) for name in names}
    profile_values = {name: draw(st.one_of(st.just({}), TREES)) for name in names}
    entries = []
    for name in draw(st.permutations(names)):
        entry: dict[str, Any] = {"pack": f"{name}@1.0.0", "values": profile_values[name]}
        locked = [format_path(p) for p, _ in leaves(profile_values[name])]
        entry["locks"] = draw(st.lists(st.sampled_from(locked), unique=True, max_size=2)) if locked else []
        entries.append(entry)
    entries.sort(key=lambda e: rank[layers[names.index(e["pack"].split("@")[0])]])
    overrides = draw(st.dictionaries(st.sampled_from(names), TREES, max_size=2))
    return {"packs": docs, "profile": profile("prop", entries), "values": values, "overrides": overrides}


def _run(s: dict[str, Any], overrides: dict[str, Any] | None = None) -> ResolvedPlan:
    catalogue = in_memory(s["packs"], [s["profile"]], s["values"])
    request = ClusterRequest(
        facts=facts(), profiles=("prop@1.0.0",), overrides=s["overrides"] if overrides is None else overrides
    )
    return Resolver(catalogue).resolve(request)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_order_respects_every_dependency_capability_and_layer(s: dict[str, Any]) -> None:
    plan = _run(s, overrides={})
    position = {p.name: i for i, p in enumerate(plan.packs)}
    providers = {cap: p.name for p in plan.packs for cap in p.provides}
    for p in plan.packs:
        for dep in s["packs"][int(p.name[1:])]["depends"]:
            assert position[dep] < position[p.name]
        for cap in p.requires:
            assert position[providers[cap]] < position[p.name]
        for before in p.after:
            assert position[before] < position[p.name]
    ranks = [p.layer.rank for p in plan.packs]
    assert ranks == sorted(ranks)


@SETTINGS
@given(scenarios())
def test_edges_preserve_every_ordering_need_between_packs_that_create_resources(s: dict[str, Any]) -> None:
    """``after`` reaches through cluster settings: it is exactly the transitive reduction, over the packs that
    create resources, of everything a pack must follow (dependencies, capability providers, lower layers)."""
    plan = _run(s, overrides={})
    docs = {d["name"]: d for d in s["packs"]}
    creates = {p.name for p in plan.packs if not p.cluster_setting}
    # What each pack must follow, from the catalogue documents alone (not from the resolver's graph).
    must: dict[str, set[str]] = {}
    for p in plan.packs:
        doc = docs[p.name]
        providers = {q.name for q in plan.packs if q.name != p.name and set(q.provides) & set(doc["requires"])}
        lower = {q.name for q in plan.packs if q.layer.rank < p.layer.rank}
        must[p.name] = set(doc["depends"]) | providers | lower
    closure = _closure(must)
    follows = _closure({p.name: set(p.after) for p in plan.packs})
    for p in plan.packs:
        assert not set(p.after) - creates, f"{p.name} is ordered after a cluster setting: {p.after}"
        assert follows[p.name] == closure[p.name] & creates, p.name
        for a in p.after:  # reduced: no edge is implied by another
            assert not any(a in follows[b] for b in p.after if b != a), (p.name, p.after)
    # The case that matters on a real cluster: every add-on that creates resources waits for the CNI and the
    # CSI drivers that create resources, even when a cluster setting sits between them in plan order.
    base = {p.name for p in plan.packs if p.layer.value in ("cni", "csi") and p.name in creates}
    for p in plan.packs:
        if p.layer.value == "addon" and p.name in creates:
            assert base <= follows[p.name], (p.name, base - follows[p.name])


def _closure(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Everything reachable from each node (edges point at predecessors; the graph is acyclic)."""
    out: dict[str, set[str]] = {}

    def visit(n: str) -> set[str]:
        if n not in out:
            out[n] = set()
            out[n] = set().union(*({e} | visit(e) for e in edges[n])) if edges[n] else set()
        return out[n]

    for n in edges:
        visit(n)
    return out


@SETTINGS
@given(scenarios())
def test_provenance_covers_every_leaf(s: dict[str, Any]) -> None:
    try:
        plan = _run(s)
    except PlanErrors:
        plan = _run(s, overrides={})
    for p in plan.packs:
        assert {format_path(path) for path, _ in leaves(p.values)} == set(p.provenance)


@SETTINGS
@given(scenarios())
def test_a_locked_path_can_never_change(s: dict[str, Any]) -> None:
    baseline = {p.name: p for p in _run(s, overrides={}).packs}
    touches_lock = any(
        is_prefix(lock, path) or is_prefix(path, lock)
        for name, tree in s["overrides"].items()
        for path, _ in leaves(tree)
        for lock in _locks(baseline[name])
    )
    try:
        plan = _run(s)
    except PlanErrors as exc:
        assert touches_lock
        assert all("is locked by profile" in e.message for e in exc.errors)
        return
    assert not touches_lock
    for p in plan.packs:
        for lock in _locks(baseline[p.name]):
            assert _maybe(p.values, lock) == _maybe(baseline[p.name].values, lock)


@SETTINGS
@given(scenarios())
def test_resolution_is_deterministic(s: dict[str, Any]) -> None:
    """The same plan, or the same errors, whatever the order of the overrides."""
    first: dict[str, Any] | list[str]
    second: dict[str, Any] | list[str]
    try:
        first = _run(s).as_dict(explain=True)
    except PlanErrors as exc:
        first = [str(e) for e in exc.errors]
    reordered = dict(reversed(list(s["overrides"].items())))
    try:
        second = _run(s, overrides=reordered).as_dict(explain=True)
    except PlanErrors as exc:
        second = [str(e) for e in exc.errors]
    assert first == second


def _parse(text: str) -> tuple[str, ...]:
    from packs.paths import parse_path

    return parse_path(text)


def _locks(p: Any) -> list[tuple[str, ...]]:
    return [_parse(lock) for lock in p.locks]


def _maybe(values: Any, path: tuple[str, ...]) -> Any:
    try:
        return get(values, path)
    except KeyError:
        return KeyError
