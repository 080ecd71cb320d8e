"""Terminal output of ``strata``: tables that never cut a name, and plans grouped so a fleet stays readable.

Two rules shape everything here:

- **Names are never cut.** A ``pack@version``, a profile reference or a cluster name is what a reader
  copies into the next command; rich's default is to end a narrow cell with "…". Name columns are
  ``no_wrap`` with a minimum width of their longest cell, every other column folds, and when the names
  cannot fit in the console's width the table becomes a compact list (per row: the name on its own
  line, then the other columns as ``header: value`` pairs, indented, wrapped at spaces).
- **A fleet is shown once per distinct plan.** 240 edge sites with the same plan print one group, its
  member count and a summary of its names; ``--json`` stays exhaustive. See :func:`explain_key` for
  exactly which clusters share a group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from components.delivery.flux import chart_location
from components.delivery.plan import DIRECT, DeliveryMode, DeliveryPlan
from packs.model import ClusterFacts
from packs.paths import get, parse_path
from packs.resolve import Provenance, ResolvedPack, ResolvedPlan
from stacks.plan import ClusterPlan

#: Above this many clusters the plan prints one table per distinct plan instead of one per cluster.
DETAIL_LIMIT = 20
#: Cluster names shown in a group's heading before "... and N more".
NAMES_SHOWN = 5
#: The full table is used only if every other column can show its longest word (up to this) unbroken.
_WORD_MAX = 40
#: Indent of a row's details under its name in the compact list.
_INDENT = 4

#: Provenance sources written by the environment (its file or inventory), not by the catalogue.
ENVIRONMENT_SOURCES = frozenset({"env-variable", "env-override"})


# ----------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """A column; ``whole`` marks names (pack@version, profile, cluster) that must never be cut or folded."""

    header: str
    whole: bool = False


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _full_width(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> int:
    """The narrowest console the table reads well in: names whole, other words unbroken (3 per column + 1 of box)."""
    total = 3 * len(columns) + 1
    for i, col in enumerate(columns):
        cells = [col.header, *(row[i] for row in rows)]
        if col.whole:
            total += max(cell_len(line) for cell in cells for line in cell.splitlines() or [""])
        else:
            total += min(max(_longest_word(c) for c in cells), _WORD_MAX)
    return total


def print_table(
    console: Console, heading: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]]
) -> None:
    """Print ``rows`` as a table if every name fits whole at the console's width, else as a compact list."""
    if heading:
        console.print(Text(heading, style="bold"), soft_wrap=False)  # wrapped at spaces: names stay whole
    if not rows:
        return
    if _full_width(columns, rows) <= console.width:
        table = Table()
        for i, col in enumerate(columns):
            if col.whole:
                widest = max(
                    cell_len(line) for cell in [col.header, *(r[i] for r in rows)] for line in cell.splitlines()
                )
                table.add_column(col.header, no_wrap=True, min_width=widest)
            else:
                table.add_column(col.header, overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
        return
    _print_compact(console, columns, rows)


def _print_compact(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    """One entry per row: the first name column alone on a line, then ``header: value`` pairs indented below."""
    lead = next((i for i, c in enumerate(columns) if c.whole), 0)
    longest = max(cell_len(word) for row in rows for cell in row for word in [*cell.split(), ""])
    for row in rows:
        console.print(Text(row[lead], style="bold"), soft_wrap=True)
        details = _pairs(columns, row, lead)
        if not details:
            continue
        if _INDENT + longest <= console.width:  # wrapped at spaces under the name, no word ever cut
            console.print(Padding(details, (0, 0, 0, _INDENT), expand=False), soft_wrap=False)
        else:  # narrower than a single word: one long line the terminal wraps
            console.print(Text(" " * _INDENT) + details, soft_wrap=True)


def _pairs(columns: Sequence[Column], row: Sequence[str], lead: int) -> Text:
    """``header: value`` for every non-empty cell but the lead, headers dimmed."""
    text = Text()
    for i, col in enumerate(columns):
        if i == lead or row[i] in ("", "-"):
            continue
        if text:
            text.append("  ")
        text.append(f"{col.header}: ", style="dim")
        text.append(row[i])
    return text


# ----------------------------------------------------------------------------------------- plans

PLAN_COLUMNS = (
    Column("layer"),
    Column("pack", whole=True),
    Column("source"),
    Column("namespace"),
    Column("profile", whole=True),
    Column("after"),
)


def source_text(pack: ResolvedPack) -> str:
    src = pack.source
    if src.kind == "helm":
        return f"helm {src.chart}@{src.version}"
    if src.kind == "manifests":
        return f"manifests ({len(src.files)})"
    return f"{src.service.value} {src.name}" + (f"@{src.version}" if src.version else "")


def delivered_text(pack: ResolvedPack, delivery: DeliveryPlan) -> str:
    """The source column: where the chart comes from (after a mirror rewrite) and who applies the pack."""
    text = source_text(pack)
    if pack.source.kind == "helm" and delivery.mirror:
        text += f" from {chart_location(pack.source, delivery.mirror).repository}"
    if delivery.mode is DeliveryMode.FLUX and (pack.source.kind == "helm" or pack.source.kind == "manifests"):
        text += " (flux)" if pack.source.kind == "helm" else " (pulumi; flux in a bundle)"
    if delivery.next is not None and pack.source.kind == "helm":
        held = "suspended" if delivery.mode is DeliveryMode.FLUX else "retained"
        text += f" [{held} until delivery: {delivery.next.value}]"
    return text


def plan_rows(plan: ResolvedPlan, delivery: DeliveryPlan = DIRECT) -> list[tuple[str, ...]]:
    """One row per pack; with ``delivery: flux`` the Flux controllers Pulumi installs come right after the
    cluster settings (realised with the cluster) and before every pack they deliver."""
    rows: list[tuple[str, ...]] = [
        (
            pack.layer.value,
            pack.ref,
            delivered_text(pack, delivery),
            pack.namespace or "-",
            pack.profile,
            ", ".join(pack.after) or "-",
        )
        for pack in plan.packs
    ]
    if delivery.controllers is None:
        return rows
    after = ", ".join(delivery.controllers_after(plan)) or "-"
    direct = DeliveryPlan(mirror=delivery.mirror)
    lead = [
        (p.layer.value, p.ref, delivered_text(p, direct), p.namespace or "-", "delivery: flux", after)
        for p in delivery.controllers.packs
    ]
    first = next((i for i, p in enumerate(plan.packs) if not p.cluster_setting), len(rows))
    return rows[:first] + lead + rows[first:]


def cluster_heading(plan: ResolvedPlan) -> str:
    f = plan.cluster
    return (
        f"{f.name}  ({f.target.value}, {f.region or '-'}, Kubernetes {f.kubernetes_version}) "
        f"profiles: {', '.join(plan.profiles)}"
    )


def group_heading(plans: Sequence[ResolvedPlan]) -> str:
    """``N clusters (target, Kubernetes v) profiles: ...: a, b, c ... and N more``; one cluster as itself."""
    if len(plans) == 1:
        return cluster_heading(plans[0])
    f = plans[0].cluster
    names = [p.cluster.name for p in plans]
    shown = ", ".join(names[:NAMES_SHOWN])
    more = f" ... and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return (
        f"{len(plans)} clusters with this plan ({f.target.value}, Kubernetes {f.kubernetes_version}) "
        f"profiles: {', '.join(plans[0].profiles)}: {shown}{more}"
    )


def group(clusters: Sequence[ClusterPlan], key: Callable[[ClusterPlan], Any]) -> list[list[ClusterPlan]]:
    """Clusters grouped by ``key``, groups in order of their first member, members in plan order."""
    groups: dict[Any, list[ClusterPlan]] = {}
    for cluster in clusters:
        groups.setdefault(key(cluster), []).append(cluster)
    return list(groups.values())


def table_key(cluster: ClusterPlan) -> Any:
    """Clusters whose plan tables are identical (target, Kubernetes version, profiles and every row)."""
    plan = cluster.plan
    f = plan.cluster
    return (f.target, f.kubernetes_version, plan.profiles, tuple(plan_rows(plan, cluster.delivery)))


def print_plans(console: Console, clusters: Sequence[ClusterPlan], explain: bool) -> None:
    """Every cluster's plan table (grouped above :data:`DETAIL_LIMIT` clusters), or the grouped explanation."""
    plans = [c.plan for c in clusters]
    if explain:
        groups = group(clusters, explain_key)
        for members in groups:
            rows = plan_rows(members[0].plan, members[0].delivery)
            print_table(console, group_heading([m.plan for m in members]), PLAN_COLUMNS, rows)
            print_values(console, members)
        if any(len(members) > 1 for members in groups):
            console.print(
                "values that differ only by each cluster's own facts show those facts as {{ cluster.* }}; "
                "--json lists every cluster",
                soft_wrap=True,
                markup=False,
            )
        return
    if len(plans) <= DETAIL_LIMIT:
        for cluster in clusters:
            print_table(console, cluster_heading(cluster.plan), PLAN_COLUMNS, plan_rows(cluster.plan, cluster.delivery))
        return
    for members in group(clusters, table_key):
        rows = plan_rows(members[0].plan, members[0].delivery)
        print_table(console, group_heading([m.plan for m in members]), PLAN_COLUMNS, rows)
    console.print(
        "use --cluster NAME for one cluster's plan, --explain for values and where they come from", soft_wrap=True
    )


# ----------------------------------------------------------------------------------------- team spaces

TEAM_COLUMNS = (
    Column("team", whole=True),
    Column("namespace", whole=True),
    Column("clusters"),
    Column("quota"),
    Column("access"),
    Column("file"),
)


def team_rows(clusters: Sequence[ClusterPlan]) -> list[tuple[str, ...]]:
    """One row per team namespace; the clusters with the same space share a row (a fleet stays one line)."""
    rows: dict[tuple[str, ...], list[str]] = {}
    for cp in clusters:
        for space in cp.teams:
            access = f"{space.access.kind}: {space.access.admin}" + (
                f" (view: {space.access.view})" if space.access.view else ""
            )
            for ns in space.namespaces:
                quota = (
                    f"cpu {ns.cpu}, memory {ns.memory}, pods {ns.pods}, storage {ns.storage}"
                    + (f", load balancers {ns.load_balancers}" if ns.load_balancers else "")
                )
                if not space.default_deny:
                    quota += "; no default-deny"
                rows.setdefault((space.team, ns.name, quota, access, space.file), []).append(space.cluster)
    out: list[tuple[str, ...]] = []
    for (team, namespace, quota, access, file), names in rows.items():
        more = f" ... and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
        shown = ", ".join(names[:NAMES_SHOWN]) + more
        out.append((team, namespace, shown, quota, access, file))
    return out


def print_teams(console: Console, clusters: Sequence[ClusterPlan]) -> None:
    """The team spaces team files put on the planned clusters (nothing when no team lands on them)."""
    rows = team_rows(clusters)
    if rows:
        print_table(console, "team spaces", TEAM_COLUMNS, rows)


# ----------------------------------------------------------------------------------------- --explain


def _fact_placeholders(facts: ClusterFacts) -> list[tuple[str, str]]:
    """(value, placeholder) for every string fact a template can name, longest value first."""
    pairs: list[tuple[str, str]] = [(facts.name, "{{ cluster.name }}")]
    if facts.region:
        pairs.append((facts.region, "{{ cluster.region }}"))
    pairs += [(v, f"{{{{ cluster.labels.{k} }}}}") for k, v in sorted(facts.labels.items())]
    pairs += [(v, f"{{{{ cluster.{k} }}}}") for k, v in sorted(facts.extra.items()) if isinstance(v, str)]
    unique: dict[str, str] = {}
    for value, placeholder in pairs:
        if value:
            unique.setdefault(value, placeholder)  # first fact wins a shared value
    return sorted(unique.items(), key=lambda vp: -len(vp[0]))


def facts_as_placeholders(value: Any, facts: ClusterFacts) -> Any:
    """``value`` with each of the cluster's own fact values written back as its ``{{ cluster.* }}`` placeholder.

    Only whole words are replaced (``fr`` in ``fr-00001`` but not in ``frontend``), longest value first,
    in one pass: putting each member's own facts back into the result gives exactly its value again, so
    one display stands for every member of a group.
    """
    pairs = _fact_placeholders(facts)
    if not pairs:
        return value
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(v) for v, _ in pairs) + r")(?![A-Za-z0-9])")
    placeholder = dict(pairs)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return pattern.sub(lambda m: placeholder[m.group(1)], node)
        if isinstance(node, Mapping):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    return walk(value)


def _dump(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def value_at(values: Mapping[str, Any], path: str) -> Any:
    try:
        return get(values, parse_path(path))
    except KeyError:
        return None


def _own_path(cluster: ClusterPlan, origin: Provenance) -> str:
    """A value's field path inside the cluster's own entry (``variables.x.y`` of ``[3]`` or ``line 5``)."""
    return origin.path.removeprefix(f"{cluster.entry.field}.")


def explain_key(cluster: ClusterPlan) -> Any:
    """Clusters whose explained plans are identical apart from the cluster's own facts share a group.

    Precisely: the same target, Kubernetes version and profiles; pack by pack in the same order, the same
    ``pack@version``, layer, source, namespace, profile, ``after`` edges, locks, deploy-time paths and
    secret references; every value leaf set by the same kind of source in the same file and field (for a
    value the environment sets, the field inside each cluster's own entry); and the same value for every
    leaf the environment sets (variables, overrides), compared with the cluster's facts written as
    placeholders (:func:`facts_as_placeholders`). Leaves set by the catalogue (pack defaults, overlays,
    profiles) come from the same text for every member, so theirs differ only through ``{{ cluster.* }}``
    templates, that is through the cluster's own facts.
    """
    plan = cluster.plan
    f = plan.cluster
    packs = []
    for pack in plan.packs:
        provenance = []
        chosen = []
        for path, origin in sorted(pack.provenance.items()):
            if origin.source in ENVIRONMENT_SOURCES:
                provenance.append((path, origin.source, origin.file, _own_path(cluster, origin)))
                chosen.append((path, _dump(facts_as_placeholders(value_at(pack.values, path), f))))
            else:
                provenance.append((path, origin.source, origin.file, origin.path))
        secrets = tuple(sorted((k, _dump(ref.model_dump())) for k, ref in pack.secrets.items()))
        packs.append(
            (
                pack.ref,
                pack.layer,
                source_text(pack),
                pack.namespace,
                pack.profile,
                pack.after,
                pack.locks,
                pack.deferred,
                tuple(provenance),
                tuple(chosen),
                secrets,
            )
        )
    return (f.target, f.kubernetes_version, plan.profiles, tuple(packs))


VALUE_COLUMNS = (Column("path", whole=True), Column("value"), Column("set by"), Column("where"), Column("lock"))


def _shown(members: Sequence[ClusterPlan], index: int, path: str) -> str:
    """One value for a whole group: the value itself, the template all members share, or an example."""
    plans = [m.plan for m in members]
    first = plans[0].packs[index]
    shown = _dump(value_at(first.values, path))
    if len(plans) > 1 and any(_dump(value_at(p.packs[index].values, path)) != shown for p in plans[1:]):
        templates = {_dump(facts_as_placeholders(value_at(p.packs[index].values, path), p.cluster)) for p in plans}
        if len(templates) == 1:
            shown = templates.pop()
        else:
            shown = f"differs per cluster, from its facts; {plans[0].cluster.name}: {shown}"
    if path in first.deferred:
        shown += "  (filled at deploy)"
    return shown


def _where(members: Sequence[ClusterPlan], origin: Provenance) -> str:
    if len(members) > 1 and origin.source in ENVIRONMENT_SOURCES:
        return f"{origin.file}: each cluster's own entry, {_own_path(members[0], origin)}"
    return f"{origin.file}: {origin.path}"


def print_values(console: Console, members: Sequence[ClusterPlan]) -> None:
    """Every value of every pack of a group, with where it was set and whether it is locked."""
    for index, pack in enumerate(members[0].plan.packs):
        if not pack.provenance:
            continue
        rows = []
        for path in sorted(pack.provenance):
            origin = pack.provenance[path]
            locked = any(path == lock or path.startswith((f"{lock}.", f"{lock}[")) for lock in pack.locks)
            shown = _shown(members, index, path)
            rows.append((path, shown, origin.source, _where(members, origin), "locked" if locked else ""))
        print_table(console, f"{pack.ref} values", VALUE_COLUMNS, rows)
