"""Every rule a cluster must pass before anything is built, as pure functions the plan and the program share.

The cluster components run these same rules in their constructors, but a component is only constructed
when the deployment is already under way: one bad cluster listed after a good one would leave the good one
half-built. So the rules live here, free of Pulumi and of every cloud SDK, and :func:`check_cluster` is what
``strata plan`` and the Pulumi program both call, for every cluster, before the first resource is registered.
A green plan is then a green deployment, and the two can never disagree about an input.

One module per target holds that target's rules (``eks``, ``aks``, ``gke``, ``edge``, ``existing``); each
exposes ``validate(spec, settings, tags, config)``, raising ``ValueError("<field path>: <what and how to
fix>")`` on the first problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.clusters.checks import aks, edge, eks, existing, gke
from components.clusters.secrets import ConfigLookup, SecretAbsent, SecretSealed, read_secret_value
from components.clusters.spec import ClusterSpec, SecretRef
from packs.model import Target

Rules = Callable[..., Any]

#: Each target's rules: ``(spec, settings, tags, config)``.
RULES: dict[Target, Rules] = {
    Target.EKS: eks.validate,
    Target.AKS: aks.validate,
    Target.GKE: gke.validate,
    Target.EDGE: edge.validate,
    Target.EXISTING: existing.validate,
}

#: ``node_pools[0].name: ...``, ``settings.node-os.ami_type: ...``, ``variables.web.token: ...``
_FIELD = re.compile(r"^(?P<field>[A-Za-z_][\w-]*(?:\[\d+\]|\.[A-Za-z_][\w-]*)*): (?P<message>.+)$", re.S)


@dataclass(frozen=True)
class Problem:
    """One reason a cluster would fail to deploy.

    ``field`` is the path inside the cluster's spec (``node_pools[1].labels``), ``settings.<path>`` for a
    cluster setting that comes from a profile's packs, ``tags`` for the environment's tags, or empty when the
    problem is the cluster as a whole. ``absent`` marks a secret source that is not present on this machine
    (an unset environment variable, a missing file): the deployment cannot start without it, but a plan may
    legitimately run where the deploy's secrets are not.
    """

    field: str
    message: str
    absent: bool = False


def problem(text: str, absent: bool = False) -> Problem:
    """Split a rule's ``"<field>: <message>"`` text into its field path and message."""
    match = _FIELD.match(text)
    if match is None:
        return Problem("", text, absent)
    return Problem(match["field"], match["message"], absent)


def check_cluster(
    spec: ClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None,
    tags: Mapping[str, str],
    secrets: Mapping[str, SecretRef] | None = None,
    config: ConfigLookup | None = None,
) -> list[Problem]:
    """Every problem of one cluster: its target's rules (settings, names, tags, network, pools, kubeconfig,
    SSH key ...) and each secret the packs read (``secrets``: ``variables.<pack>.<var>`` -> reference).

    ``tags`` are exactly the tags the component receives. ``config`` reads ``{config: ...}`` secret
    references: the running stack's configuration in the program, the stack's config file in the plan.
    """
    problems: list[Problem] = []
    try:
        RULES[spec.target](spec, settings, tags, config)
    except SecretSealed:
        pass  # present, encrypted for the engine: the deployment reads it, nothing more to check here
    except SecretAbsent as exc:
        problems.append(problem(str(exc), absent=True))
    except ValueError as exc:
        problems.append(problem(str(exc)))
    for field, ref in (secrets or {}).items():
        try:
            read_secret_value(ref, field, config)
        except SecretSealed:
            continue
        except SecretAbsent as exc:
            problems.append(problem(str(exc), absent=True))
        except ValueError as exc:
            problems.append(problem(str(exc)))
    return problems


__all__ = ["RULES", "Problem", "check_cluster", "problem"]
