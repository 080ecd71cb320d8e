"""Install a resolved plan onto any cluster through the cluster contract.

The plan is already ordered and validated (see packs/resolve.py); this component only realises it:

- every namespace is created explicitly, and every pack in it depends on it;
- each pack depends on the packs the plan puts before it (``after``: its layer below, its dependencies,
  the providers of the capabilities it requires), so a CRD provider is installed and awaited before any
  pack using its kinds, and ``pulumi destroy`` removes add-ons (which own cloud load balancers and
  volumes) before the CSI, the CNI and the cluster underneath them -- by construction, no ``--target``;
- values are inputs of the pack resource, so changing a value is a diff, never a silent no-op;
- every Kubernetes object goes through the cluster's provider, never an ambient kubeconfig;
- cloud identities are created from the pack's declared needs and fill its ``{{ identity.* }}`` values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from components.clusters.contract import ClusterContract
from components.clusters.secrets import read_secret, read_secret_value
from components.delivery.installers import InstallRequest, installer_for, installer_problem
from components.delivery.strategy import Delivery, Direct
from components.identities import PackIdentity, create_identity
from components.lifecycle import aliases
from packs.model import GeneratedSecret
from packs.paths import get, parse_path, with_value
from packs.resolve import PLACEHOLDER, ResolvedPack, ResolvedPlan

if TYPE_CHECKING:
    import pulumi_random

#: Namespaces every cluster already has; creating them would fight the API server over ownership.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
#: Every input of a generated password: a later change to the pack's generation settings must not replace
#: (and so silently rotate) a password that is already in use.
_PASSWORD_INPUTS = ["length", "special", "overrideSpecial", "upper", "lower", "numeric", "minSpecial"]


def generate_secret(name: str, spec: GeneratedSecret, parent: pulumi.Resource) -> pulumi_random.RandomPassword:
    """A ``random.RandomPassword`` for a secret variable nobody set; its value stays secret in the state.

    ``name`` must stay the same for the life of the cluster (``<cluster>-<pack>-<variable>``): with a stable
    URN, no keepers and every input ignored once created, a later ``pulumi up`` never generates a new value.
    """
    import pulumi_random

    password = pulumi_random.RandomPassword(
        name,
        length=spec.length,
        special=spec.special,
        override_special=spec.override_special,
        opts=pulumi.ResourceOptions(
            parent=parent, ignore_changes=_PASSWORD_INPUTS, additional_secret_outputs=["result", "bcryptHash"]
        ),
    )
    return password


def fill_placeholders(
    values: Mapping[str, Any], deferred: Sequence[str], known: Mapping[str, pulumi.Output[str]]
) -> pulumi.Input[Mapping[str, Any]]:
    """Replace ``{{ identity.* }}`` and ``{{ secret.* }}`` at the plan's deferred paths with their outputs.

    ``known`` is keyed by the placeholder's dotted name (``identity.aws_role_arn``, ``secret.<variable>``); a
    secret output makes the whole values input secret, so the state stores it encrypted.
    """
    if not deferred:
        return dict(values)
    keys = sorted(known)

    def render(resolved: list[str]) -> dict[str, Any]:
        lookup = dict(zip(keys, resolved, strict=True))

        def sub(value: Any) -> Any:
            if isinstance(value, str):
                return PLACEHOLDER.sub(lambda m: lookup[m.group(1) + m.group(2)], value)
            if isinstance(value, list | tuple):
                return [sub(v) for v in value]
            if isinstance(value, Mapping):
                return {k: sub(v) for k, v in value.items()}
            return value

        out: dict[str, Any] = dict(values)
        for text_path in deferred:
            path = parse_path(text_path)
            out = with_value(out, path, sub(get(out, path)))
        return out

    return pulumi.Output.all(*(known[k] for k in keys)).apply(render)


def flatten_settings(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """AKS extension configuration settings are flat ``a.b.c -> "string"`` pairs."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_settings(value, f"{name}."))
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return dict(sorted(out.items()))


def protected_keys(values: Mapping[str, Any]) -> frozenset[str]:
    """Flattened extension settings that hold a ``{{ secret.* }}`` placeholder in the plan's values.

    Computed from the plan, before any secret is read, so which keys are protected never depends on a value.
    """
    return frozenset(
        key
        for key, text in flatten_settings(values).items()
        if any(m.group(1) == "secret" for m in PLACEHOLDER.finditer(text))
    )


def extension_settings(
    plan_values: Mapping[str, Any], values: pulumi.Input[Mapping[str, Any]]
) -> tuple[pulumi.Output[dict[str, str]], pulumi.Output[dict[str, str]] | None]:
    """AKS extension ``(configuration_settings, configuration_protected_settings)``.

    Azure returns ``configurationSettings`` to anyone who can read the extension, so settings filled from a
    secret variable go to ``configurationProtectedSettings`` (write-only in the API) and stay Pulumi secrets;
    the rest is not secret, so diffs of ordinary settings stay readable.
    """
    protected = protected_keys(plan_values)
    flat = pulumi.Output.from_input(values).apply(flatten_settings)
    settings = pulumi.Output.unsecret(flat.apply(lambda f: {k: v for k, v in f.items() if k not in protected}))
    if not protected:
        return settings, None
    return settings, pulumi.Output.secret(flat.apply(lambda f: {k: v for k, v in f.items() if k in protected}))


def secret_problems(plan: ResolvedPlan) -> list[str]:
    """Secret variables whose source cannot be read now (missing variable, file or config key)."""
    problems = []
    for pack in plan.packs:
        for var, ref in pack.secrets.items():
            try:
                read_secret_value(ref, f"variables.{pack.name}.{var}")
            except ValueError as exc:
                problems.append(str(exc))
    return problems


def _problems(cluster: ClusterContract, plan: ResolvedPlan) -> list[str]:
    """Everything that would fail mid-deployment, found before the first resource is registered."""
    problems = secret_problems(plan)
    if plan.cluster.name != cluster.name:
        problems.append(f"plan is for cluster {plan.cluster.name}, not {cluster.name}")
    installed: set[str] = set()
    for pack in plan.packs:
        where = f"pack {pack.ref} ({pack.layer.value})"
        if not pack.cluster_setting:
            unordered = [a for a in pack.after if a not in installed]
            if unordered:
                problems.append(f"{where} is ordered after {', '.join(unordered)}, which the plan installs no earlier")
            installed.add(pack.name)
        uses_identity = any(
            m.group(1) == "identity"
            for p in pack.deferred
            for m in PLACEHOLDER.finditer(json.dumps(get(pack.values, parse_path(p))))
        )
        if uses_identity and cluster.workload_identity is None:
            problems.append(f"{where} needs a cloud identity but {cluster.target.value} clusters have none")
        if uses_identity and pack.identity is None:
            problems.append(f"{where} has identity placeholders but declares no identity")
        src = pack.source
        problem = None if pack.cluster_setting else installer_problem(cluster, pack)
        if problem is not None:
            problems.append(f"{where} {problem}")
        if src.kind == "manifests":
            missing = [f for f in src.files if not (Path(pack.folder) / f).is_file()]
            if missing:
                problems.append(f"{where}: manifest files missing: {', '.join(missing)}")
    return problems


class PackRelease(pulumi.ComponentResource):
    """One pack on one cluster; failures surface under ``strata:packs:Pack::<cluster>-<pack>``.

    ``deps`` are repeated on the children: a component's ``depends_on`` orders whoever depends on the
    component, but does not hold back the component's own children.
    """

    def __init__(self, name: str, pack: ResolvedPack, deps: list[pulumi.Resource], parent: pulumi.Resource) -> None:
        # A renamed pack carries its former names: the release and every child named after it move over.
        prefix = name.removesuffix(pack.name)
        former = aliases(f"{prefix}{old}" for old in pack.renamed_from)
        super().__init__(
            "strata:packs:Pack", name, None, pulumi.ResourceOptions(parent=parent, depends_on=deps, aliases=former)
        )
        self.deps = deps
        self.pack_name = pack.name
        self.version = pack.version
        self.layer = pack.layer.value
        self.namespace = pack.namespace

    def finish(self) -> None:
        self.register_outputs(
            {"name": self.pack_name, "version": self.version, "layer": self.layer, "namespace": self.namespace}
        )


class PackStack(pulumi.ComponentResource):
    """Every pack of a resolved plan, installed in plan order through the cluster's provider."""

    def __init__(
        self,
        name: str,
        cluster: ClusterContract,
        plan: ResolvedPlan,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        retain_data: bool = False,
        delivery: Delivery | None = None,
    ) -> None:
        """``retain_data`` (production): packs that own data leave their namespace and objects in the cluster
        when removed from the plan, instead of deleting them and the volumes with them."""
        problems = _problems(cluster, plan)
        if problems:
            raise ValueError(f"cannot install the plan on {cluster.name}:\n  " + "\n  ".join(problems))
        super().__init__("strata:packs:PackStack", name, None, opts)
        self.cluster = cluster
        self.plan = plan
        self._tags = dict(tags or {})
        self._retain = retain_data
        #: How each pack is realised: applied by Pulumi (default) or handed to Flux (components/delivery).
        self.delivery: Delivery = delivery or Direct()
        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        self.releases: dict[str, pulumi.Resource] = {}
        #: ``<pack>.<variable>`` -> the URN of the resource holding a generated secret (never its value).
        self.generated_secrets: dict[str, pulumi.Output[str]] = {}
        ready = list(cluster.ready)

        for pack in plan.packs:
            if pack.cluster_setting:
                # Realised by the cluster component when it created the cluster.
                continue
            # The plan's edges already reach through cluster settings to the packs that create resources.
            deps = [self.releases[a] for a in pack.after] if pack.after else list(ready)
            if pack.namespace and pack.namespace not in SYSTEM_NAMESPACES:
                deps.append(self._namespace(name, pack, ready))
            release = PackRelease(f"{name}-{pack.name}", pack, deps, self)
            identity = PackIdentity()
            if pack.identity is not None and cluster.workload_identity is not None:
                identity = create_identity(
                    f"{name}-{pack.name}",
                    cluster,
                    pack.namespace or "kube-system",
                    pack.identity,
                    self._tags,
                    release,
                    physical=f"{cluster.physical_name}-{pack.first_name}",
                )
            known = {f"identity.{k}": v for k, v in identity.placeholders.items()}
            known |= {
                f"secret.{var}": read_secret(ref, f"variables.{pack.name}.{var}") for var, ref in pack.secrets.items()
            }
            for var, spec in pack.generated.items():
                password = generate_secret(f"{name}-{pack.name}-{var.replace('_', '-')}", spec, release)
                known[f"secret.{var}"] = pulumi.Output.secret(password.result)
                self.generated_secrets[f"{pack.name}.{var}"] = password.urn
            values = fill_placeholders(pack.values, pack.deferred, known)
            self.delivery.install(self, name, pack, values, identity, release)
            release.finish()
            self.releases[pack.name] = release
        self.delivery.finish(self, name)

        self.packs = {
            p.name: {"version": p.version, "layer": p.layer.value, "namespace": p.namespace, "profile": p.profile}
            for p in plan.packs
        }
        self.profiles = list(plan.profiles)
        self.register_outputs(
            {"packs": self.packs, "profiles": self.profiles, "generated_secrets": self.generated_secrets}
        )

    def _namespace(self, name: str, pack: ResolvedPack, ready: list[pulumi.Resource]) -> k8s.core.v1.Namespace:
        ns = pack.namespace
        assert ns is not None
        keep = self._retain and any(p.stateful and p.namespace == ns for p in self.plan.packs)
        if ns not in self.namespaces:
            self.namespaces[ns] = k8s.core.v1.Namespace(
                f"{name}-ns-{ns}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=ns,
                    labels={
                        "app.kubernetes.io/managed-by": "strata",
                        "strata.io/cluster": self.cluster.name,
                        "strata.io/pack": pack.name,
                    },
                ),
                # Deleting a namespace deletes the volume claims in it, and with them the volumes.
                opts=pulumi.ResourceOptions(
                    parent=self, provider=self.cluster.provider, depends_on=ready, retain_on_delete=keep or None
                ),
            )
        return self.namespaces[ns]

    def _install(
        self,
        name: str,
        pack: ResolvedPack,
        values: pulumi.Input[Mapping[str, Any]],
        identity: PackIdentity,
        release: PackRelease,
    ) -> None:
        """Apply ``pack`` directly, through the installer of its source kind (components/delivery/installers.py)."""
        handover = self.delivery.handover
        helm = pack.source.kind == "helm"
        request = InstallRequest(
            name=f"{name}-{pack.name}",
            pack=pack,
            values=values,
            identity=identity,
            release=release,
            cluster=self.cluster,
            tags=self._tags,
            mirror=self.delivery.mirror,
            keep=(self._retain and pack.stateful) or (handover.keep_charts and helm),
        )
        installer_for(pack.source).install(request)
