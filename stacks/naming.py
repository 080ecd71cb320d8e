"""Stack names: which Pulumi stack owns which clusters of an environment.

One module, used by the Pulumi program (to pick what a stack deploys) and by ``strata stacks`` (to list
the stacks a pipeline fans out over), so the two can never disagree. It imports no Pulumi.

An environment's ``strata:stacks`` setting decides its stack names:

- ``environment``: exactly one stack, ``<env>``, owns every cluster. ``<env>.<cluster>`` and
  ``<env>.shard-<i>-of-<n>`` are refused: they would own clusters the ``<env>`` stack already owns, and
  two stacks creating the same cluster is the worst surprise a second ``pulumi up`` can hold.
- ``cluster``: each cluster is its own stack ``<env>.<cluster>``, or a stable shard of them
  ``<env>.shard-<i>-of-<n>``; the bare ``<env>`` stack is refused (no preview ever walks the whole fleet).

A cluster's shard is a SHA-256 of its name, never Python's ``hash()`` (salted per process): the same site
must land in the same shard in every process, on every machine and in every release, or a pipeline would
deploy it from two stacks. Its golden values are pinned by the tests.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packs.errors import PlanError, PlanErrors

if TYPE_CHECKING:
    from stacks.environment import ClusterEntry, Environment

#: ``shard-<i>-of-<n>``, canonical numbers only: ``shard-01-of-2`` would be a second stack for shard 1.
SHARD = re.compile(r"^shard-(\d+)-of-(\d+)$")
_CANONICAL = re.compile(r"^[1-9]\d*$")
STACKS_FIELD = 'config."strata:stacks"'


@dataclass(frozen=True)
class StackSelection:
    """A stack name read as (environment, what it selects): a cluster name, a shard, or None for all."""

    environment: str
    selector: str | None


def parse_stack(stack: str) -> StackSelection:
    """``dev`` -> (dev, None); ``edge.eu-west-fr-00001`` -> (edge, that cluster); org/project prefixes dropped."""
    short = stack.rsplit("/", 1)[-1]
    env, dot, selector = short.partition(".")
    return StackSelection(env, selector if dot else None)


def shard_of(cluster: str, shards: int) -> int:
    """Stable shard (1-based) of a cluster, the same in every process and release (see the module doc)."""
    if shards < 1:
        raise ValueError(f"a fleet has at least one shard, not {shards}")
    return int(hashlib.sha256(cluster.encode()).hexdigest(), 16) % shards + 1


def _per_cluster(environment: Environment) -> bool:
    return environment.settings.stacks == "cluster"


def _examples(environment: Environment) -> str:
    first = environment.clusters[0].spec.name
    return f"{environment.name}.{first} or {environment.name}.shard-1-of-{min(10, len(environment.clusters))}"


def _refuse(environment: Environment, message: str) -> PlanErrors:
    return PlanErrors([PlanError(environment.file, STACKS_FIELD, message)])


def _refuse_split(environment: Environment, asked: str) -> PlanErrors:
    """The refusal for a per-cluster or shard stack name in an environment deployed as one stack."""
    return _refuse(
        environment,
        f"environment {environment.name} is deployed as one stack ({STACKS_FIELD}: environment), so {asked} "
        f"would own clusters the {environment.name} stack already owns; use the stack {environment.name}, "
        f"or set {STACKS_FIELD}: cluster to deploy one stack per cluster",
    )


def _shard_named_clusters(environment: Environment) -> list[PlanError]:
    """A cluster named like a shard would make ``<env>.shard-1-of-2`` mean two things."""
    return [
        PlanError(
            entry.file,
            f"{entry.field}.name",
            f"cluster name {entry.spec.name!r} reads as a shard stack name in an environment deployed one stack "
            "per cluster; rename the cluster",
            entry.spec.name,
        )
        for entry in environment.clusters
        if SHARD.match(entry.spec.name)
    ]


def parse_shard(environment: Environment, selector: str) -> tuple[int, int] | None:
    """``shard-2-of-8`` -> (2, 8); None when the selector is not a shard; PlanErrors when it is a bad one."""
    match = SHARD.match(selector)
    if not match:
        return None
    index, total = match.group(1), match.group(2)
    if not (_CANONICAL.match(index) and _CANONICAL.match(total)) or int(index) > int(total):
        raise _refuse(
            environment,
            f"stack {environment.name}.{selector} names no shard: shards are "
            f"{environment.name}.shard-<i>-of-<n> with 1 <= i <= n, without leading zeros "
            f"(e.g. {environment.name}.shard-1-of-{max(int(total), 1)})",
        )
    return int(index), int(total)


def select(environment: Environment, selection: StackSelection) -> tuple[ClusterEntry, ...]:
    """The clusters this stack owns, or PlanErrors naming the stack(s) to use instead.

    An empty shard (possible when a fleet is smaller than its shard count, or sites were removed) owns no
    cluster: an update of it deploys nothing and removes what it deployed before, like any removal.
    """
    clusters = environment.clusters
    if selection.selector is None:
        if _per_cluster(environment):
            raise _refuse(
                environment,
                f"environment {environment.name} deploys one stack per cluster ({STACKS_FIELD}: cluster); "
                f"select a stack such as {_examples(environment)} (`strata stacks --env {environment.name}` "
                "lists them)",
            )
        return clusters
    if not _per_cluster(environment):
        raise _refuse_split(environment, f"the stack {environment.name}.{selection.selector}")
    if errors := _shard_named_clusters(environment):
        raise PlanErrors(errors)
    shard = parse_shard(environment, selection.selector)
    if shard is not None:
        index, total = shard
        return tuple(c for c in clusters if shard_of(c.spec.name, total) == index)
    try:
        return (environment.cluster(selection.selector),)
    except KeyError:
        names = [c.spec.name for c in clusters]
        close = difflib.get_close_matches(selection.selector, names, n=1)
        hint = f"; did you mean {environment.name}.{close[0]}?" if close else ""
        raise PlanErrors(
            [
                PlanError(
                    environment.file,
                    'config."strata:clusters"',
                    f"stack {environment.name}.{selection.selector} selects cluster {selection.selector!r}, which "
                    f"environment {environment.name} does not declare{hint} (`strata stacks --env "
                    f"{environment.name}` lists its stacks)",
                )
            ]
        ) from None


@dataclass(frozen=True)
class StackList:
    """The stacks that deploy an environment, and the shards left out because no cluster hashes to them."""

    names: tuple[str, ...]
    empty_shards: tuple[int, ...] = ()


def stack_names(environment: Environment, shards: int | None = None) -> StackList:
    """Every stack that deploys ``environment``, each cluster owned by exactly one of them.

    With ``shards``, only shards that own at least one cluster are listed: an empty shard stack would
    deploy nothing, so a pipeline fanning out over the list never creates one. The caller says which
    were left out (``empty_shards``) so that ``--shards 2`` printing one name is not a mystery.
    """
    env = environment.name
    if not _per_cluster(environment):
        if shards is not None:
            raise _refuse_split(environment, f"--shards {shards} (stacks {env}.shard-<i>-of-{shards})")
        return StackList((env,))
    if errors := _shard_named_clusters(environment):
        raise PlanErrors(errors)
    if shards is None:
        return StackList(tuple(f"{env}.{c.spec.name}" for c in environment.clusters))
    if shards < 1:
        raise _refuse(environment, f"--shards must be at least 1, not {shards}")
    used = {shard_of(c.spec.name, shards) for c in environment.clusters}
    return StackList(
        tuple(f"{env}.shard-{i}-of-{shards}" for i in sorted(used)),
        tuple(i for i in range(1, shards + 1) if i not in used),
    )


def describe_empty(environment: Environment, shards: int, empty: Sequence[int]) -> str:
    """One line for stderr: which shards hold no cluster and why they are not listed."""
    listed = ", ".join(str(i) for i in empty[:10]) + (" ..." if len(empty) > 10 else "")
    return (
        f"note: {len(empty)} of {shards} shard(s) hold no cluster of {environment.name} "
        f"({len(environment.clusters)} cluster(s)) and are not listed: shard {listed}"
    )
