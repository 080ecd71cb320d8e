"""Scope a pack's identity grants to what the pack's values target on one cluster, at plan time.

A pack's ``identity`` says which roles its workload needs; *where* those roles apply depends on the
cluster: external-dns edits the DNS zone its values name (a resource group and subscription on Azure, a
project on GCP, hosted zone ids on Route 53), not the cluster's own resource group or project. The grants
therefore reference the pack's resolved values (``{{ values.<path> }}``) and the cluster's facts
(``{{ cluster.<fact> }}``), and this module resolves them for one cluster -- purely, with no Pulumi import --
so the plan shows the final scopes and a scope that cannot be resolved is a plan error naming the pack file
and the field, before anything is deployed.

Only the grants of the cluster's own cloud are kept: an EKS cluster's external-dns never needs its Azure
scopes to resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packs.model import AzureRoleGrant, ClusterFacts, GcpRoleGrant, Identity, Target, Variable

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_\-/]+)*)\s*\}\}")
#: What a resolved scope must look like for the cloud to accept it: (pattern, description for the message).
SUBSCRIPTION = (r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", "an Azure subscription id")
RESOURCE_GROUP = (r"[-\w._()]{0,89}[-\w_()]", "an Azure resource group name")
PROJECT = (r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "a GCP project id")


@dataclass(frozen=True)
class ScopeProblem:
    """Why one field of the identity cannot be resolved on this cluster.

    ``missing`` is the value path that was absent, so the resolver can leave out problems a missing required
    variable already explains.
    """

    field: str
    message: str
    missing: str | None = None


class _Unresolved(Exception):
    def __init__(self, message: str, missing: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


@dataclass(frozen=True)
class _Context:
    pack: str
    values: Mapping[str, Any]
    facts: ClusterFacts
    variables: Sequence[Variable]

    def lookup(self, placeholder: str, namespace: str, dotted: str) -> Any:
        if namespace == "cluster":
            try:
                return self.facts.lookup(dotted)
            except KeyError:
                raise _Unresolved(f"{placeholder}: the cluster has no fact {dotted!r}") from None
        node: Any = self.values
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                setters = [v.name for v in self.variables if v.path == dotted]
                how = (
                    f"set variable {self.pack}.{setters[0]}"
                    if setters
                    else f"the pack's values have no {dotted}; set it in the profile or the environment's overrides"
                )
                raise _Unresolved(f"{placeholder} is not set on this cluster: {how}", dotted)
            node = node[part]
        if isinstance(node, str) and "{{" in node:
            raise _Unresolved(
                f"{placeholder} is {node!r}, only known at deploy time; a grant's scope must be known when planning"
            )
        return node


def _expand(text: str, ctx: _Context) -> list[str]:
    """``text`` with its placeholders filled; a placeholder naming a list yields one string per element."""
    matches = list(_TEMPLATE.finditer(text))
    if not matches:
        return [text]
    results = [""]
    pos = 0
    lists = 0
    for m in matches:
        value = ctx.lookup(m.group(0), m.group(1), m.group(2).lstrip("."))
        if isinstance(value, list | tuple):
            lists += 1
            items = list(value)
            if lists > 1:
                raise _Unresolved(f"{text!r}: at most one placeholder per string may name a list")
            if not items:
                raise _Unresolved(f"{m.group(0)} is an empty list: the grant would cover nothing")
        elif isinstance(value, Mapping):
            raise _Unresolved(f"{m.group(0)} is a map; a scope takes a string (or a list of strings)")
        else:
            items = [value]
        words = []
        for item in items:
            if isinstance(item, Mapping | list | tuple) or item is None or item == "":
                raise _Unresolved(f"{m.group(0)} holds {item!r}; a scope takes non-empty strings")
            words.append(str(item).lower() if isinstance(item, bool) else str(item))
        prefix = text[pos : m.start()]
        results = [r + prefix + w for r in results for w in words]
        pos = m.end()
    return [r + text[pos:] for r in results]


def _one(text: str | None, ctx: _Context) -> str | None:
    if text is None:
        return None
    out = _expand(text, ctx)
    if len(out) != 1:
        raise _Unresolved(f"{text!r} names a list of {len(out)} values; this scope takes one")
    return out[0]


def _policy(node: Any, ctx: _Context, field: str, problems: list[ScopeProblem]) -> Any:
    """The policy document with templates filled; list items expand, a lone string becomes a list if it must."""
    if isinstance(node, str):
        try:
            out = _expand(node, ctx)
        except _Unresolved as exc:
            problems.append(ScopeProblem(field, exc.message, exc.missing))
            return node
        return out[0] if len(out) == 1 else out
    if isinstance(node, list | tuple):
        items: list[Any] = []
        for i, item in enumerate(node):
            done = _policy(item, ctx, f"{field}[{i}]", problems)
            if isinstance(item, str) and isinstance(done, list):
                items.extend(done)
            else:
                items.append(done)
        return items
    if isinstance(node, Mapping):
        return {k: _policy(v, ctx, f"{field}.{k}", problems) for k, v in node.items()}
    return node


def scope_identity(
    identity: Identity,
    pack: str,
    values: Mapping[str, Any],
    facts: ClusterFacts,
    variables: Sequence[Variable] = (),
) -> tuple[Identity, list[ScopeProblem]]:
    """The identity as it applies to ``facts``' cloud, every template resolved; and what could not be.

    Fields are reported as ``identity.<field path>`` of the pack file.
    """
    ctx = _Context(pack, values, facts, variables)
    problems: list[ScopeProblem] = []
    target = facts.target
    update: dict[str, Any] = {"aws_policy_arns": (), "aws_policy": None, "azure_roles": (), "gcp_roles": ()}

    def resolve(field: str, text: str | None, shape: tuple[str, str]) -> str | None:
        try:
            value = _one(text, ctx)
        except _Unresolved as exc:
            problems.append(ScopeProblem(field, exc.message, exc.missing))
            return text
        pattern, what = shape
        if value is not None and not re.fullmatch(pattern, value):
            problems.append(ScopeProblem(field, f"{text!r} resolves to {value!r}, which is not {what}"))
        return value

    if target is Target.EKS:
        update["aws_policy_arns"] = identity.aws_policy_arns
        if identity.aws_policy is not None:
            update["aws_policy"] = _policy(identity.aws_policy, ctx, "identity.aws_policy", problems)
    elif target is Target.AKS:
        update["azure_roles"] = tuple(
            AzureRoleGrant(
                role=g.role,
                subscription=resolve(f"identity.azure_roles[{i}].subscription", g.subscription, SUBSCRIPTION),
                resource_group=resolve(f"identity.azure_roles[{i}].resource_group", g.resource_group, RESOURCE_GROUP),
            )
            for i, g in enumerate(identity.azure_roles)
        )
    elif target is Target.GKE:
        update["gcp_roles"] = tuple(
            GcpRoleGrant(role=g.role, project=resolve(f"identity.gcp_roles[{i}].project", g.project, PROJECT))
            for i, g in enumerate(identity.gcp_roles)
        )
    # model_copy skips validation on purpose: the resolved strings are plain values, no longer templates.
    return identity.model_copy(update=update), problems
