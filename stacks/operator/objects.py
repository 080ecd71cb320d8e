"""The Kubernetes objects that make the Pulumi Kubernetes Operator reconcile an environment: pure data.

For an environment with ``strata:reconcile``: the namespace, the workspaces' ServiceAccount and the one
binding it needs (``system:auth-delegator``: the workspace agent checks the operator's requests with the API
server's TokenReview), and one ``Stack`` (``pulumi.com/v1``) per fleet stack. Stack names and memberships
come from :mod:`stacks.naming` -- the very stacks ``strata stacks`` lists and ``strata fleet`` operates -- so
the operator and a local ``pulumi up`` can never deploy one cluster from two stacks.

The same list feeds ``strata operator render`` (YAML for GitOps), the management environment's program
(registered through the management cluster's provider) and the operator fleet engine (the spec it advances),
so the three cannot drift apart. Nothing here imports Pulumi; no secret value ever enters an object: the
passphrase and every secret the stacks read are references to keys of Kubernetes Secrets.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packs.model import DriftAction
from stacks import naming
from stacks.environment import Environment
from stacks.fleet.model import FleetStack, Operation, RunOptions, waves
from stacks.plan import ClusterPlan
from stacks.reconcile import ReconcileSettings, config_secret_key, secret_refs

STACK_API = "pulumi.com/v1"
LABEL = "strata.dev"
MANAGED_BY = {"app.kubernetes.io/managed-by": "strata"}
#: The Stack CRD refuses longer names (its CEL rule: the workspace's StatefulSet and Service derive from it).
MAX_STACK_NAME = 42


def k8s_name(stack: str, limit: int = MAX_STACK_NAME) -> str:
    """The Stack object's name for a Pulumi stack name: the name itself when it fits, else a stable
    shortened form with a hash suffix (the full name stays in ``spec.stack`` and an annotation)."""
    clean = re.sub(r"[^a-z0-9.-]+", "-", stack.lower()).strip("-.")
    if len(clean) <= limit and clean == stack:
        return clean
    digest = hashlib.sha256(stack.encode()).hexdigest()[:8]
    return f"{clean[: limit - 9].rstrip('-.')}-{digest}"


def _label(value: str) -> str:
    """A label value (63 characters of [-._a-zA-Z0-9], alphanumeric at both ends)."""
    clean = re.sub(r"[^-._a-zA-Z0-9]+", "-", value).strip("-._")
    if len(clean) <= 63:
        return clean
    return f"{clean[:54].rstrip('-._')}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class OperatorStack:
    """One fleet stack as the operator sees it: the Pulumi stack, its Stack object and rollout wave."""

    name: str
    clusters: tuple[str, ...]
    wave: int
    preview_only: bool
    object: Mapping[str, Any]
    #: Some cluster of the stack is protected (``strata:production`` or ``protect: true``): a destroy fails.
    protected: bool = False

    @property
    def object_name(self) -> str:
        return str(self.object["metadata"]["name"])


def fleet_stacks(environment: Environment) -> list[FleetStack]:
    """The fleet's stacks in ``strata stacks`` order, with their clusters: names from the naming module (never
    re-implemented), memberships in one pass over the clusters (``naming.select`` per stack would walk the
    whole fleet once per stack: minutes at 10,000 sites)."""
    reconcile = environment.settings.reconcile
    shards = reconcile.shards if reconcile is not None else None
    names = naming.stack_names(environment, shards).names
    if names == (environment.name,):
        return [FleetStack(environment.name, tuple(e.spec.name for e in environment.clusters))]
    members: dict[str, list[str]] = {name: [] for name in names}
    for entry in environment.clusters:
        cluster = entry.spec.name
        selector = f"shard-{naming.shard_of(cluster, shards)}-of-{shards}" if shards else cluster
        members[f"{environment.name}.{selector}"].append(cluster)
    return [FleetStack(name, tuple(members[name])) for name in names]


def preview_only(policies: Sequence[Mapping[Any, DriftAction]]) -> bool:
    """True when no layer of any cluster of the stack heals: the operator then only previews (drift alerts),
    and changes reach those clusters only through a deliberate ``strata fleet up``."""
    return all(action is not DriftAction.HEAL for policy in policies for action in policy.values())


def _ref(secret: str, key: str) -> dict[str, Any]:
    return {"type": "Secret", "secret": {"name": secret, "key": key}}


def _stack_spec(reconcile: ReconcileSettings, name: str, plans: Sequence[ClusterPlan], preview: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"stack": reconcile.stack_name(name), "backend": reconcile.backend}
    source = reconcile.source
    if source.git is not None:
        spec["projectRepo"] = source.git.url
        spec["commit"] = source.git.commit
        if source.git.dir:
            spec["repoDir"] = source.git.dir
        if source.git.token is not None:
            spec["gitAuth"] = {"accessToken": _ref(source.git.token.name, source.git.token.key)}
    else:
        assert source.flux is not None
        spec["fluxSource"] = {
            "sourceRef": {"apiVersion": source.flux.api_version, "kind": source.flux.kind, "name": source.flux.name}
        }
        if source.flux.dir:
            spec["fluxSource"]["dir"] = source.flux.dir
    env_refs: dict[str, Any] = {}
    secrets_ref: dict[str, Any] = {}
    if reconcile.passphrase is not None:
        env_refs["PULUMI_CONFIG_PASSPHRASE"] = _ref(reconcile.passphrase.name, reconcile.passphrase.key)
    if reconcile.secrets_provider is not None:
        spec["secretsProvider"] = reconcile.secrets_provider
    for var, ref in sorted(reconcile.credentials.items()):
        env_refs[var] = _ref(ref.name, ref.key)
    for cp in plans:
        for _, secret in secret_refs(cp):
            assert reconcile.secrets is not None  # check_reconcile refuses secret references without it
            if secret.env is not None:
                env_refs[secret.env] = _ref(reconcile.secrets, secret.env)
            elif secret.config is not None:
                key = secret.config if ":" in secret.config else f"strata:{secret.config}"
                secrets_ref[key] = _ref(reconcile.secrets, config_secret_key(key))
    if env_refs:
        spec["envRefs"] = dict(sorted(env_refs.items()))
    if secrets_ref:
        spec["secretsRef"] = dict(sorted(secrets_ref.items()))
    spec.update(
        {
            "refresh": True,
            "resyncFrequencySeconds": reconcile.resync_seconds,
            # Re-run at the same commit every resync: that is what heals drift between commits.
            "continueResyncOnCommitMatch": True,
            # Deleting a Stack object never destroys a cluster; `strata fleet destroy` does, deliberately.
            "destroyOnFinalize": False,
            "workspaceReclaimPolicy": "Delete",
            "serviceAccountName": reconcile.workspace.service_account,
            "workspaceTemplate": {"spec": _workspace(reconcile)},
        }
    )
    if preview:
        # Only previews (refreshed first): the operator never applies. Not `expectNoRefreshChanges`: the
        # operator v2 ignores it (its own validation says so), so it would promise a drift signal never given.
        spec["preview"] = True
    return spec


def _workspace(reconcile: ReconcileSettings) -> dict[str, Any]:
    res = reconcile.workspace.resources
    return {
        "image": reconcile.workspace.image,
        "resources": {
            "requests": {"cpu": res.cpu, "memory": res.memory, "ephemeral-storage": res.ephemeral_storage},
            "limits": {"memory": res.memory_limit, "ephemeral-storage": res.ephemeral_storage_limit},
        },
    }


def operator_stacks(environment: Environment, plans: Sequence[ClusterPlan]) -> list[OperatorStack]:
    """One Stack object per fleet stack of ``environment`` (which must set ``strata:reconcile``)."""
    reconcile = environment.settings.reconcile
    if reconcile is None:
        raise ValueError(f"environment {environment.name} sets no strata:reconcile")
    by_cluster = {cp.entry.spec.name: cp for cp in plans}
    stacks = fleet_stacks(environment)
    # The waves a default `strata fleet up --engine operator` rolls out in (canary 1, then 25% each).
    defaults = RunOptions().resolved(Operation.UP)
    assert defaults.canary is not None and defaults.wave_size is not None
    wave_of = {s.name: i for i, wave in enumerate(waves(stacks, defaults.canary, defaults.wave_size), 1) for s in wave}
    out = []
    for stack in stacks:
        members = [by_cluster[c] for c in stack.clusters if c in by_cluster]
        preview = preview_only([cp.drift for cp in members])
        labels = {
            **MANAGED_BY,
            f"{LABEL}/environment": _label(environment.name),
            f"{LABEL}/wave": str(wave_of[stack.name]),
        }
        selection = naming.parse_stack(stack.name).selector
        if len(stack.clusters) == 1 and selection == stack.clusters[0]:
            labels[f"{LABEL}/cluster"] = _label(stack.clusters[0])
        elif selection is not None:
            labels[f"{LABEL}/shard"] = _label(selection)
        obj = {
            "apiVersion": STACK_API,
            "kind": "Stack",
            "metadata": {
                "name": k8s_name(stack.name),
                "namespace": reconcile.namespace,
                "labels": dict(sorted(labels.items())),
                "annotations": {f"{LABEL}/stack": stack.name, f"{LABEL}/clusters": ",".join(stack.clusters)},
            },
            "spec": _stack_spec(reconcile, stack.name, members, preview),
        }
        protected = any(environment.protect(cp.entry.spec) for cp in members)
        out.append(OperatorStack(stack.name, stack.clusters, wave_of[stack.name], preview, obj, protected))
    return out


def support_objects(environment: Environment) -> list[dict[str, Any]]:
    """The namespace, the workspaces' ServiceAccount and its ``system:auth-delegator`` binding.

    The workspaces deploy remote clusters with those clusters' own credentials, so they need nothing else
    in the management cluster: no namespaced Role is granted.
    """
    reconcile = environment.settings.reconcile
    assert reconcile is not None
    ns, sa = reconcile.namespace, reconcile.workspace.service_account
    labels = {**MANAGED_BY, f"{LABEL}/environment": _label(environment.name)}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns, "labels": labels}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{ns}:{sa}:system:auth-delegator", "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        },
    ]


def operator_objects(environment: Environment, plans: Sequence[ClusterPlan]) -> list[dict[str, Any]]:
    """Everything, in apply order: support objects first, then the Stacks in fleet order."""
    return support_objects(environment) + [dict(s.object) for s in operator_stacks(environment, plans)]
