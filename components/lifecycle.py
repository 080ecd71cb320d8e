"""What the *second* ``pulumi up`` does: the replacement, rename and retention rules every component follows.

Day 1 creates; day 2 changes a value the cloud cannot change in place, renames something, or removes it.
Each of those moments is decided here, once, so that every cluster component and the pack stack behave
alike:

- **Replacement.** Pulumi replaces a resource create-before-delete by default. That fails with "already
  exists" for a resource whose physical name (or natural key) strata sets, because the new one would
  take the name the old one still holds. So a resource either lets the provider auto-name it, or is
  registered with :func:`fixed_name`, which replaces it delete-before-replace. Node pools are the
  exception that must never lose capacity: they get a physical name from :func:`pool_name`, which changes
  whenever a field that forces replacement changes, so the new pool comes up beside the old one under a
  new name and the old one drains afterwards, while the pool's logical name (and URN) stays put.
- **Protection.** In production the cluster, its network and the keys are protected; node pools are not,
  because a protected resource can never be replaced and pools must be replaceable without unprotecting.
- **Renames.** :func:`aliases` turns former names into ``pulumi.Alias`` options; children whose names
  start with their parent's name follow automatically (the engine derives their aliases).
- **Retention.** :func:`retained` keeps a resource and, through a transform, every child a provider-side
  component (a Helm chart, a config group) registers, in the cluster when it is removed from the program.
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi

from components.replacement import DIGEST_LENGTH, pool_name, replacement_digest


def fixed_name(opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """``opts`` for a resource whose physical name or natural key strata sets: replaced delete-before-replace.

    The old resource must be gone before the new one can take its name. In production such resources are
    usually protected too, and Pulumi then refuses the replacement outright, which is the point: replacing
    a cluster is a decision, not a side effect of a changed field.
    """
    return pulumi.ResourceOptions.merge(
        opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(delete_before_replace=True)
    )


def aliases(former: Iterable[str]) -> list[pulumi.Alias]:
    """``pulumi.Alias`` for each former name of a resource (same type and parent, another name)."""
    return [pulumi.Alias(name=name) for name in former]


def _retain_child(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
    """Keep one child of a retained component: a provider-side component does not pass options to children."""
    opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    return pulumi.ResourceTransformResult(props=args.props, opts=opts)


def retained(opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """``opts`` for a resource whose removal from the program must leave it (and all its children) in place.

    ``retain_on_delete`` alone is not enough for a Helm chart or a config group: their objects are children
    registered by the Kubernetes provider, which does not hand the option down, so a transform applies it
    to every child as it registers.
    """
    return pulumi.ResourceOptions.merge(
        opts or pulumi.ResourceOptions(),
        pulumi.ResourceOptions(retain_on_delete=True, transforms=[_retain_child]),
    )


__all__ = ["DIGEST_LENGTH", "aliases", "fixed_name", "pool_name", "replacement_digest", "retained"]
