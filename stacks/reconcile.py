"""``strata:reconcile``: how an environment's stacks are reconciled continuously by the Pulumi Kubernetes Operator.

An environment that sets it is deployed by the operator (v2) running on a *management cluster*: one ``Stack``
object (``pulumi.com/v1``) per fleet stack, each pinned to a commit of the program's Git repository (or to a
Flux source), pointed at the state backend, with every secret as a reference to a Kubernetes Secret. The
management environment (``strata:clusters`` with the ``fleet-management`` profile) installs the operator and
registers those objects; ``strata operator render`` writes them as YAML for GitOps; ``strata fleet up --engine
operator`` rolls a new commit out through them in waves.

This module is pure data and pure checks (no Pulumi import): :func:`check_reconcile` runs inside
:func:`stacks.plan.check_environment`, so ``strata plan`` refuses what the operator would refuse later.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, model_validator

from packs.errors import PlanError, PlanErrors, did_you_mean
from packs.model import DNS_LABEL, Frozen, SecretRef

if TYPE_CHECKING:
    from packs.catalogue import Catalogue
    from stacks.environment import Environment
    from stacks.plan import ClusterPlan

FIELD = 'config."strata:reconcile"'
#: Kubernetes object names (DNS subdomain) and Secret data keys.
_K8S_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
#: A container image pinned to a tag or a digest; ``latest`` (the operator's default) moves under a fleet.
_IMAGE = re.compile(r"^[^\s@]+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
#: State backends that keep secrets encrypted by the stack's own provider (a passphrase or a KMS key).
SELF_MANAGED = ("s3://", "gs://", "azblob://", "file://")
#: The capability a management cluster's plan must provide: the operator's CRDs.
OPERATOR_CRDS = "crds:pulumi.com"


class KubeSecretKey(Frozen):
    """One key of a Kubernetes Secret in the Stacks' namespace on the management cluster (never a value)."""

    name: str = Field(pattern=_K8S_NAME, description="Name of the Secret, in the reconcile namespace.")
    key: str = Field(pattern=_SECRET_KEY, description="Key within the Secret.")


class ManagementCluster(Frozen):
    """Where the operator runs: a cluster of another strata environment, or any cluster by kubeconfig."""

    cluster: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_]*/[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="`<environment>/<cluster>`: a cluster of another strata environment, whose plan installs the "
        "operator (the fleet-management profile). That environment's program registers the Stack objects.",
    )
    kubeconfig: SecretRef | None = Field(
        default=None,
        description="A kubeconfig reference ({env: ...}, {file: ...} or {config: ...}) for a management cluster "
        "strata does not manage; register the Stacks with `strata operator render` and GitOps.",
    )
    context: str | None = Field(default=None, description="Kubeconfig context (default: the current one).")

    @model_validator(mode="after")
    def _exactly_one(self) -> ManagementCluster:
        if (self.cluster is None) == (self.kubeconfig is None):
            raise ValueError("give exactly one of cluster (<environment>/<cluster>) or kubeconfig")
        return self

    @property
    def environment(self) -> str | None:
        return self.cluster.split("/", 1)[0] if self.cluster else None

    @property
    def cluster_name(self) -> str | None:
        return self.cluster.split("/", 1)[1] if self.cluster else None


class GitSource(Frozen):
    """The program at one commit of a Git repository: the operator never follows a branch for strata."""

    url: str = Field(
        pattern=r"^(https://|ssh://|git@)\S+$", description="Repository URL (https://, ssh:// or git@host:path)."
    )
    commit: str = Field(
        pattern=r"^[0-9a-f]{40}$",
        description="Full commit SHA the Stacks are pinned to; a rollout is a change of this value "
        "(`strata fleet up --engine operator` advances the Stacks wave by wave).",
    )
    dir: str = Field(default="", description="Folder of Pulumi.yaml within the repository (empty: the root).")
    token: KubeSecretKey | None = Field(default=None, description="Access token for a private repository.")


class FluxSource(Frozen):
    """The program from a Flux source object (the operator fetches its artifact)."""

    kind: Literal["GitRepository", "OCIRepository", "Bucket"] = Field(description="Flux source kind.")
    name: str = Field(pattern=_K8S_NAME, description="Name of the source object, in the reconcile namespace.")
    api_version: str = Field(default="source.toolkit.fluxcd.io/v1", description="apiVersion of the source object.")
    dir: str = Field(default="", description="Folder of Pulumi.yaml within the artifact.")


class ProgramSource(Frozen):
    git: GitSource | None = Field(default=None, description="A Git repository pinned to a commit.")
    flux: FluxSource | None = Field(default=None, description="A Flux source object.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ProgramSource:
        if (self.git is None) == (self.flux is None):
            raise ValueError("give exactly one of git ({url, commit}) or flux ({kind, name})")
        return self


class WorkspaceResources(Frozen):
    """Requests (and limits) of each workspace pod: the operator sets none by default, so a busy node evicts
    workspaces mid-update; ephemeral storage holds the program, its virtualenv and plugins."""

    cpu: str = Field(default="500m", pattern=_QUANTITY, description="CPU request.")
    memory: str = Field(default="1Gi", pattern=_QUANTITY, description="Memory request.")
    memory_limit: str = Field(default="2Gi", pattern=_QUANTITY, description="Memory limit.")
    ephemeral_storage: str = Field(default="4Gi", pattern=_QUANTITY, description="Ephemeral storage request.")
    ephemeral_storage_limit: str = Field(default="8Gi", pattern=_QUANTITY, description="Ephemeral storage limit.")


class Workspace(Frozen):
    image: str = Field(
        description="Workspace image with the `pulumi` CLI and Python, pinned to a tag or digest (e.g. "
        "pulumi/pulumi-python:3.205.0); the operator's default follows `latest`."
    )
    resources: WorkspaceResources = Field(default_factory=WorkspaceResources, description="Pod resources.")
    service_account: str = Field(
        default="strata-workspace", pattern=DNS_LABEL, description="ServiceAccount the workspace pods run as."
    )

    @model_validator(mode="after")
    def _pinned(self) -> Workspace:
        tag = self.image.rsplit("/", 1)[-1]
        if not _IMAGE.match(self.image) or ("@sha256:" not in self.image and ":" not in tag):
            raise ValueError(f"image {self.image!r} is not pinned; give a tag or a digest (image:1.2.3)")
        if tag.partition("@")[0].endswith(":latest"):
            raise ValueError(f"image {self.image!r} follows latest; pin a version so every site runs the same")
        return self


class ReconcileSettings(Frozen):
    """``strata:reconcile``: the environment is reconciled continuously by the Pulumi Kubernetes Operator."""

    engine: Literal["operator"] = Field(description="The reconciling engine: the Pulumi Kubernetes Operator v2.")
    management: ManagementCluster = Field(description="The cluster the operator runs on.")
    namespace: str = Field(default="strata-fleet", pattern=DNS_LABEL, description="Namespace of the Stack objects.")
    source: ProgramSource = Field(description="Where the workspaces fetch the strata program.")
    backend: str = Field(
        pattern=r"^(https://|s3://|gs://|azblob://|file://)\S+$",
        description="Pulumi state backend URL (https://api.pulumi.com, s3://bucket, gs://, azblob://).",
    )
    organization: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$",
        description="Stack name prefix `<organization>/` (Pulumi Cloud); unset for self-managed backends.",
    )
    passphrase: KubeSecretKey | None = Field(
        default=None, description="Secret key holding PULUMI_CONFIG_PASSPHRASE (self-managed backends)."
    )
    secrets_provider: str | None = Field(
        default=None,
        pattern=r"^(awskms|azurekeyvault|gcpkms|hashivault)://\S+$",
        description="KMS secrets provider URL, instead of a passphrase.",
    )
    secrets: str | None = Field(
        default=None,
        pattern=_K8S_NAME,
        description="Kubernetes Secret holding the fleet's secret values: one key per {env: NAME} reference "
        "(key NAME) and per {config: ns:key} reference (key ns.key).",
    )
    credentials: dict[str, KubeSecretKey] = Field(
        default_factory=dict,
        description="More workspace environment variables from Secrets (backend and cloud credentials, e.g. "
        "AWS_ACCESS_KEY_ID, PULUMI_ACCESS_TOKEN).",
    )
    shards: int | None = Field(
        default=None, ge=1, description="One Stack per shard `<env>.shard-<i>-of-<n>` instead of one per cluster."
    )
    resync_seconds: int = Field(
        default=600,
        ge=60,
        description="How often each Stack is refreshed and reconciled again at the same commit (drift healing); "
        "the operator treats anything below 60 as 60.",
    )
    workspace: Workspace = Field(description="Workspace image, resources and ServiceAccount.")

    @model_validator(mode="after")
    def _one_encryption(self) -> ReconcileSettings:
        if self.passphrase is not None and self.secrets_provider is not None:
            raise ValueError("give passphrase or secrets_provider, not both")
        bad = [k for k in self.credentials if not re.match(r"^[A-Z_][A-Z0-9_]*$", k)]
        if bad:
            raise ValueError(f"credentials keys are environment variable names; {bad[0]!r} is not one")
        return self

    def stack_name(self, name: str) -> str:
        """The fully qualified Pulumi stack name the operator deploys."""
        return f"{self.organization}/{name}" if self.organization else name

    @property
    def commit(self) -> str | None:
        return self.source.git.commit if self.source.git else None


def _secret_refs(value: Any, path: str) -> Iterator[tuple[str, SecretRef]]:
    """Every :class:`SecretRef` inside a cluster spec, with its field path (any target, any nesting).

    Only fields whose declared type can hold a reference are entered (see :func:`_ref_fields`): a fleet's
    rows are mostly labels, facts and hosts, which never can, and walking them was most of this check."""
    if isinstance(value, SecretRef):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in _ref_fields(type(value)):
            yield from _secret_refs(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secret_refs(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _secret_refs(item, f"{path}[{i}]")


@functools.cache
def _ref_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model``, in order, whose declared type may hold a :class:`SecretRef`."""
    _REF_FIELDS_OPEN.add(model)
    try:
        return tuple(name for name, info in model.model_fields.items() if _may_hold_ref(info.annotation))
    finally:
        _REF_FIELDS_OPEN.discard(model)


#: Models whose fields are being examined: a model that contains itself is entered, never assumed empty.
_REF_FIELDS_OPEN: set[type[BaseModel]] = set()


def _may_hold_ref(annotation: Any) -> bool:
    """Whether a value of this type can be or contain a SecretRef: through a model, a union, a collection or
    ``Any``. Anything not understood counts as yes, so a new kind of field is walked, never skipped."""
    if annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Literal or annotation is type(None):
        return False
    if origin is Annotated:
        return _may_hold_ref(get_args(annotation)[0])
    args = get_args(annotation)
    if args:
        return any(_may_hold_ref(a) for a in args if a is not Ellipsis)
    if isinstance(annotation, type):
        if issubclass(annotation, SecretRef):
            return True
        if issubclass(annotation, BaseModel):
            return annotation in _REF_FIELDS_OPEN or bool(_ref_fields(annotation))
        return not issubclass(annotation, str | int | float | bool | enum.Enum | bytes)
    return True


def secret_refs(cp: ClusterPlan) -> list[tuple[str, SecretRef]]:
    """Every secret one cluster's stack reads: its spec's references and its packs' secret variables."""
    refs = list(_secret_refs(cp.entry.spec, ""))
    refs += [(f"variables.{p.name}.{var}", ref) for p in cp.plan.packs for var, ref in sorted(p.secrets.items())]
    return refs


def config_secret_key(config_key: str) -> str:
    """``secrets:edgeKey`` -> ``secrets.edgeKey``: a Secret data key cannot hold ``:``."""
    return config_key.replace(":", ".")


def check_reconcile(
    environment: Environment, plans: Sequence[ClusterPlan], catalogue: Catalogue, config_dir: Path | None
) -> list[PlanError]:
    """What the operator would refuse or fail on, found by the plan: one error per mistake."""
    reconcile = environment.settings.reconcile
    if reconcile is None:
        return []
    file = environment.file
    errors: list[PlanError] = []
    if reconcile.backend.startswith(SELF_MANAGED) and reconcile.passphrase is None and not reconcile.secrets_provider:
        errors.append(
            PlanError(
                file,
                f"{FIELD}.passphrase",
                f"the backend {reconcile.backend} keeps secrets encrypted by each stack's own provider; give "
                "passphrase: {name: <secret>, key: <key>} (a Kubernetes Secret) or secrets_provider: awskms://...",
            )
        )
    if reconcile.backend.startswith("file://"):
        errors.append(
            PlanError(
                file,
                f"{FIELD}.backend",
                "a file:// backend lives inside one workspace pod and is lost when the workspace is reclaimed; "
                "use s3://, gs://, azblob:// or https://api.pulumi.com",
            )
        )
    if reconcile.shards is not None and environment.settings.stacks != "cluster":
        errors.append(
            PlanError(
                file,
                f"{FIELD}.shards",
                'shards need one stack per cluster; set config."strata:stacks": cluster, or remove shards',
            )
        )
    needs_secret: list[str] = []
    for cp in plans:
        for path, ref in secret_refs(cp):
            where = f"{cp.entry.field}.{path}"
            if ref.file is not None:
                errors.append(
                    PlanError(
                        cp.entry.file,
                        where,
                        f"{{file: {ref.file}}} cannot be read in an operator workspace (a pod with no such file); "
                        "use {env: NAME} or {config: ns:key}, served from the Secret named in "
                        f"{FIELD}.secrets",
                        cp.entry.spec.name,
                    )
                )
            else:
                needs_secret.append(ref.env or ref.config or "")
    if needs_secret and reconcile.secrets is None:
        errors.append(
            PlanError(
                file,
                f"{FIELD}.secrets",
                f"the stacks read {len(set(needs_secret))} secret(s) ({', '.join(sorted(set(needs_secret))[:3])}"
                f"{' ...' if len(set(needs_secret)) > 3 else ''}); name the Kubernetes Secret that holds them "
                "(secrets: <name>, one key per reference)",
            )
        )
    errors.extend(_check_management(environment, reconcile, catalogue, config_dir))
    return errors


def _check_management(
    environment: Environment, reconcile: ReconcileSettings, catalogue: Catalogue, config_dir: Path | None
) -> list[PlanError]:
    """The management cluster exists in its environment and its plan installs the operator's CRDs."""
    mgmt = reconcile.management
    if mgmt.cluster is None or config_dir is None:
        return []
    from stacks.environment import load_environment
    from stacks.plan import plan_clusters

    path = f"{FIELD}.management.cluster"
    env_name, cluster = mgmt.environment, mgmt.cluster_name
    assert env_name is not None and cluster is not None
    if env_name == environment.name:
        return [
            PlanError(
                environment.file,
                path,
                "the management cluster must belong to another environment: a Stack would reconcile the cluster "
                "its own operator runs on",
            )
        ]
    try:
        other = load_environment(env_name, config_dir)
    except PlanErrors as exc:
        return [PlanError(environment.file, path, f"cannot read environment {env_name}: {exc.errors[0]}")]
    try:
        entry = other.cluster(cluster)
    except KeyError:
        names = [e.spec.name for e in other.clusters]
        hint = did_you_mean(cluster, names) or f" (it has {', '.join(names[:5])})"
        return [PlanError(environment.file, path, f"environment {env_name} has no cluster {cluster!r}{hint}")]
    plans, problems = plan_clusters([entry], catalogue)
    if problems or not plans:
        return [
            PlanError(environment.file, path, f"cluster {mgmt.cluster} does not plan: run strata plan --env {env_name}")
        ]
    if not any(OPERATOR_CRDS in p.provides for p in plans[0].plan.packs):
        return [
            PlanError(
                environment.file,
                path,
                f"cluster {mgmt.cluster} does not install the Pulumi Kubernetes Operator; add the profile "
                f"fleet-management@1.0.0 to it in {other.file}",
            )
        ]
    return []
