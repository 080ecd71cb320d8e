"""Which stacks a fleet operation runs on: the environment, its stack naming, ``--shards`` and ``--select``.

Stack names and cluster-to-shard assignment come from the program's own functions, so a fleet run
operates exactly the stacks ``pulumi up -s <stack>`` would deploy. Every selected cluster is planned
first: an environment that does not plan cleanly runs nothing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packs.catalogue import PACKS_DIR, load_catalogue
from packs.errors import PlanError, PlanErrors, did_you_mean
from packs.resolve import ResolvedPack
from stacks import naming
from stacks.environment import CONFIG_DIR, ClusterEntry, Environment, load_environment
from stacks.fleet.drift import ClusterLayout
from stacks.fleet.model import FleetStack
from stacks.plan import ClusterPlan, check_environment, file_config

ROOT = Path(__file__).resolve().parents[2]
#: What the program is made of: a change to any of these can change what any stack deploys.
PROGRAM_FILES = (
    "Pulumi.yaml",
    "components/**/*.py",
    "stacks/*.py",
    "packs/*.py",
    "packs/catalog/**/*",
    "packs/profiles/**/*",
)


@dataclass(frozen=True)
class Selection:
    environment: Environment
    stacks: tuple[FleetStack, ...]
    plans: tuple[ClusterPlan, ...]

    def layouts(self) -> dict[str, ClusterLayout]:
        return {
            cp.entry.spec.name: ClusterLayout(
                cp.entry.spec.name,
                # the Flux controllers of `delivery: flux` are a pack of their own, in the add-on layer
                {p.name: (p.layer, p.namespace) for p in (*_controllers(cp), *cp.plan.packs)},
                cp.drift,
            )
            for cp in self.plans
        }


def _controllers(cp: ClusterPlan) -> tuple[ResolvedPack, ...]:
    return cp.delivery.controllers.packs if cp.delivery.controllers is not None else ()


def program_digest(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    files = sorted({p for pattern in PROGRAM_FILES for p in root.glob(pattern) if p.is_file()})
    for path in files:
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _values(entry: ClusterEntry, key: str) -> list[str]:
    """What ``--select key=...`` compares for one cluster: the name, target, region, a fact, or a label."""
    spec = entry.spec
    facts = spec.facts_for_plan()
    if key == "name":
        values: Iterable[object] = [spec.name]
    elif key in ("target", "region"):
        value = getattr(facts, key)
        values = [getattr(value, "value", value)]
    else:
        short = key.split(".", 1)[1] if key.startswith(("labels.", "facts.")) else key
        values = [v for v in (facts.labels.get(short), facts.extra.get(short)) if v is not None]
        if not key.startswith(("labels.", "facts.")) and short in type(facts).model_fields:
            values = [*values, getattr(facts, short)]
    return [str(getattr(v, "value", v)) for v in values if v is not None]


def _matches(entry: ClusterEntry, key: str, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(v, pattern) for v in _values(entry, key))


#: Facts that are collections, not something a ``KEY=VALUE`` selector compares.
_NOT_SELECTABLE = frozenset({"labels", "extra", "capabilities"})


def _keys(entry: ClusterEntry) -> set[str]:
    """Every key ``--select`` can compare on this cluster (bare, and as ``labels.<k>`` / ``facts.<k>``)."""
    facts = entry.spec.facts_for_plan()
    fields = {k for k in type(facts).model_fields if k not in _NOT_SELECTABLE and getattr(facts, k) is not None}
    return {
        *fields,
        *facts.labels,
        *(f"labels.{k}" for k in facts.labels),
        *facts.extra,
        *(f"facts.{k}" for k in facts.extra),
    }


def _no_match(environment: Environment, selectors: Sequence[tuple[str, str]]) -> list[PlanError]:
    """Why no cluster is selected, one error per selector at fault: a key no cluster has (with the closest key),
    or a value no cluster has for its key (with the closest value); else the selectors only fail together."""
    clusters = environment.clusters
    known: set[str] = set().union(*(_keys(e) for e in clusters))
    errors = []
    for key, pattern in selectors:
        where = f"--select {key}={pattern}"
        if key not in known:
            shown = ", ".join(sorted(known, key=lambda k: (k.count("."), k))[:12])
            errors.append(
                PlanError(
                    environment.file,
                    "",
                    f"{where}: no cluster of {environment.name} has a key {key!r} (keys: {shown}"
                    f"{' ...' if len(known) > 12 else ''})" + did_you_mean(key, known),
                )
            )
        elif not any(_matches(e, key, pattern) for e in clusters):
            values = {v for e in clusters for v in _values(e, key)}
            hint = "" if any(c in pattern for c in "*?[") else did_you_mean(pattern, values)
            errors.append(
                PlanError(
                    environment.file, "", f"{where}: no cluster of {environment.name} has {key}={pattern}" + hint
                )
            )
    if not errors:
        shown = " ".join(f"{k}={v}" for k, v in selectors)
        errors.append(PlanError(environment.file, "", f"no cluster of {environment.name} matches {shown} together"))
    return errors


def parse_selectors(selectors: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for text in selectors:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--select {text!r}: expected KEY=VALUE, e.g. region=eu-west or labels.tier=store")
        out.append((key.strip(), value.strip()))
    return out


def select_stacks(
    env: str,
    *,
    shards: int | None = None,
    select: Sequence[str] = (),
    config_dir: Path = CONFIG_DIR,
    packs_dir: Path = PACKS_DIR,
    root: Path = ROOT,
) -> Selection:
    """The stacks of ``env`` holding at least one selected cluster (``KEY=VALUE`` selectors all match;
    values may use shell wildcards). Raises :class:`PlanErrors` when the environment does not plan."""
    environment = load_environment(env, config_dir)
    selectors = parse_selectors(select)
    chosen = [e for e in environment.clusters if all(_matches(e, k, v) for k, v in selectors)]
    if not chosen:
        raise PlanErrors(_no_match(environment, selectors))
    # The very names and memberships `strata stacks` lists and the program deploys: one naming module.
    chosen_names = {e.spec.name for e in chosen}
    groups: dict[str, list[ClusterEntry]] = {}
    for name in naming.stack_names(environment, shards).names:
        members = list(naming.select(environment, naming.parse_stack(name)))
        # A stack deploys all its clusters, selected or not; it is operated when it holds a selected one.
        if any(m.spec.name in chosen_names for m in members):
            groups[name] = members
    entries = [e for members in groups.values() for e in members]
    # The very check `strata plan` and the program run: a fleet never starts on an environment that cannot deploy.
    config = file_config(config_dir / f"Pulumi.{env}.yaml")
    verdict = check_environment(environment, entries, load_catalogue(packs_dir), config)
    if verdict.errors:
        raise PlanErrors(verdict.errors)
    plans = verdict.plans
    program = program_digest(root)
    settings = environment.settings.model_dump(mode="json", exclude={"clusters", "inventory"})
    stacks = []
    for name, members in groups.items():
        h = hashlib.sha256(program.encode())
        h.update(json.dumps(settings, sort_keys=True).encode())
        for e in members:
            h.update(json.dumps(e.spec.model_dump(mode="json"), sort_keys=True, default=str).encode())
        own = config_dir / f"Pulumi.{name}.yaml"
        if own.is_file():
            h.update(own.read_bytes())
        stacks.append(FleetStack(name, tuple(e.spec.name for e in members), h.hexdigest()[:16]))
    return Selection(environment, tuple(stacks), tuple(plans))
