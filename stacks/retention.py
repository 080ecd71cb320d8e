"""Production data: which packs own it, what a stack has deployed, and what a new plan would drop.

A pack that owns data (``stateful: true`` in pack.yaml, or one that requires ``storage-class``) keeps its
volumes in its namespace. Dropping it from a cluster's profiles -- or dropping the cluster from a stack --
would delete the namespace and the volumes with it. In ``production`` environments that is refused unless
the environment says it means it (``strata:allow_data_loss``, or ``allow_data_loss`` on the cluster), and the
pack stack keeps the namespace and the pack's objects in the cluster even then (``retain_on_delete``).

"Dropped" needs what is deployed now. Every stack exports, under :data:`EXPORT_KEY`, the data-owning packs of
each of its clusters (never secret); the program reads its own stack's last value before registering
anything, and ``strata plan --deployed`` reads the same export from ``pulumi stack output --json``. Both call
:func:`data_loss`, so the plan and the deployment refuse exactly the same changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from packs.errors import PlanError, PlanErrors
from packs.resolve import ResolvedPlan
from stacks.environment import Environment
from stacks.plan import ClusterPlan

#: The stack output holding ``{cluster: {pack: namespace}}`` for every data-owning pack.
EXPORT_KEY = "stateful"

Deployed = dict[str, dict[str, str | None]]
T = TypeVar("T")


def stateful_packs(plan: ResolvedPlan) -> dict[str, str | None]:
    """The data-owning packs of one plan, pack -> namespace (what is exported after a deployment)."""
    return {p.name: p.namespace for p in plan.packs if p.stateful}


def export_value(plans: Sequence[ClusterPlan]) -> Deployed:
    """The value of the :data:`EXPORT_KEY` output for the clusters a stack deploys."""
    return {cp.entry.spec.name: stateful_packs(cp.plan) for cp in plans}


def parse_deployed(raw: Any, source: str) -> Deployed:
    """What a stack has deployed, from its outputs (``pulumi stack output --json``) or the export itself.

    Raises :class:`PlanErrors` naming ``source`` when the document is not such an export.
    """
    if isinstance(raw, Mapping) and EXPORT_KEY in raw:
        value = raw[EXPORT_KEY]
    elif isinstance(raw, Mapping) and ("clusters" in raw or "environment" in raw):
        return {}  # a stack deployed before the export existed: nothing is known to be dropped
    else:
        value = raw
    problem = PlanError(
        source,
        EXPORT_KEY,
        f"not a strata stack's outputs: expected the output of `pulumi stack output --json`, with "
        f"{EXPORT_KEY!r} mapping each cluster to its data-owning packs and their namespaces",
    )
    if not isinstance(value, Mapping):
        raise PlanErrors([problem])
    out: Deployed = {}
    for cluster, packs in value.items():
        if not isinstance(packs, Mapping) or not all(isinstance(ns, str | None) for ns in packs.values()):
            raise PlanErrors([problem])
        out[str(cluster)] = {str(pack): ns for pack, ns in packs.items()}
    return out


#: How a ``--deployed`` file is made: the stack's outputs as JSON, secrets left masked (strata reads none).
SAVE_OUTPUTS = "pulumi stack output --json --stack <stack> > {file}"


def read_outputs(path: Path, env: str = "<env>") -> Any:
    """The JSON document of a ``--deployed`` file; a file that cannot be read or parsed is one error naming it,
    what is wrong and how to save it again (the parser's message alone says neither which file nor what to do)."""
    save = (
        f"save the stack's outputs with `{SAVE_OUTPUTS.format(file=path)}` "
        f"(`strata stacks --env {env}` lists the stacks)"
    )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanErrors([PlanError(str(path), "", f"--deployed: no such file; {save}")]) from None
    except UnicodeDecodeError:
        raise PlanErrors([PlanError(str(path), "", f"--deployed: not UTF-8 text, so not JSON; {save}")]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PlanErrors([PlanError(str(path), "", f"--deployed: cannot read it ({reason}); {save}")]) from None
    if not text.strip():
        raise PlanErrors([PlanError(str(path), "", f"--deployed: the file is empty; {save}")])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        what = f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); without --json pulumi prints a table"
        raise PlanErrors([PlanError(str(path), "", f"--deployed: {what}; {save}")]) from None


def read_each(files: Sequence[Path], env: str, parse: Callable[[Any, str], Mapping[str, T]]) -> dict[str, T]:
    """One stack output parsed from every saved file (one file per stack), merged; every file's mistakes are
    reported together, so one run names them all."""
    found: dict[str, T] = {}
    errors: list[PlanError] = []
    for path in files:
        try:
            found.update(parse(read_outputs(path, env), str(path)))
        except PlanErrors as exc:
            errors.extend(exc.errors)
    if errors:
        raise PlanErrors(errors)
    return found


def read_deployed(files: Sequence[Path], env: str = "<env>") -> Deployed:
    """The deployed data of every stack of ``env`` whose outputs were saved to ``files`` (one file per stack)."""
    return read_each(files, env, parse_deployed)


def _acknowledged(pack: str, cluster: str, environment: Environment, extra: Sequence[str] = ()) -> bool:
    allowed = {*environment.settings.allow_data_loss, *extra}
    return bool({pack, f"{cluster}/{pack}", f"{cluster}/*"} & allowed)


def data_loss(environment: Environment, plans: Sequence[ClusterPlan], deployed: Mapping[str, Any]) -> list[PlanError]:
    """One error per data-owning pack the new plans drop from a deployed cluster, unless acknowledged.

    Only production environments are checked. Renames are followed (a cluster's ``renamed_from``, a pack's
    ``renamed_from``), so a rename is never mistaken for a removal. A deployed cluster missing from ``plans``
    was removed from the stack (from the environment, or moved to another shard): its packs are dropped too.
    """
    if not environment.settings.production:
        return []
    current: dict[str, ClusterPlan] = {}
    for cp in plans:
        for name in (cp.entry.spec.name, *cp.entry.spec.renamed_from):
            current.setdefault(name, cp)
    errors: list[PlanError] = []
    for cluster, packs in deployed.items():
        now = current.get(cluster)
        if now is None:
            lost = sorted(p for p in packs if not _acknowledged(p, cluster, environment))
            if lost:
                stores = ", ".join(f"{p} (namespace {packs[p]})" for p in lost)
                errors.append(
                    PlanError(
                        environment.file,
                        'config."strata:clusters"',
                        f"cluster {cluster} is no longer deployed by this stack, and it holds data: {stores}. "
                        "Removing the cluster deletes it; keep the cluster, or acknowledge the loss with "
                        f"strata:allow_data_loss: [{', '.join(f'{cluster}/{p}' for p in lost)}]",
                        cluster,
                    )
                )
            continue
        spec = now.entry.spec
        present = {name for p in now.plan.packs for name in (p.name, *p.renamed_from)}
        for pack in sorted(set(packs) - present):
            if _acknowledged(pack, spec.name, environment, spec.allow_data_loss):
                continue
            namespace = packs[pack]
            errors.append(
                PlanError(
                    now.entry.file,
                    f"{now.entry.field}.profiles",
                    f"pack {pack} is no longer in the profiles of cluster {spec.name}, and it owns data: namespace "
                    f"{namespace} and the volumes in it. Keep the pack, or acknowledge the loss with "
                    f"strata:allow_data_loss: [{pack}] (or allow_data_loss: [{pack}] on the cluster); strata then "
                    "leaves the namespace and its objects in the cluster, unmanaged, for you to back up and delete",
                    spec.name,
                )
            )
    return errors


__all__ = [
    "EXPORT_KEY",
    "SAVE_OUTPUTS",
    "data_loss",
    "export_value",
    "parse_deployed",
    "read_deployed",
    "read_outputs",
    "stateful_packs",
]
