"""The pack catalogue and cluster profiles as typed, frozen data.

Packs and profiles are data, not code: adding a pack is writing a ``pack.yaml`` (and optionally a
``values.yaml``) in a folder. These models are the single place where their shape is defined, so every
consumer -- the resolver, the CLI, the pack stack, the catalogue lint -- agrees on it, and every mistake
is caught with a field path before anything is built.
"""

from __future__ import annotations

import enum
import functools
import re
from typing import Annotated, Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from packs.paths import format_path, parse_path
from policy.rules import Level as PolicyLevel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
SEMVER = r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
#: An exact upstream version: chart versions are often ``v``-prefixed and EKS add-on versions carry an
#: ``-eksbuild.N`` suffix; ranges (``^1.2``, ``>=1``, ``1.x``, ``*``) are rejected on purpose so a plan
#: can never drift between two runs.
EXACT_VERSION = r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
FactValue = str | int | float | bool


class Frozen(BaseModel):
    """Base for every catalogue model: immutable, and unknown keys are errors (a typo never passes)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Layer(enum.StrEnum):
    """The five layers of a cluster profile, in the order they are built and the reverse of teardown."""

    OS = "os"
    KUBERNETES = "kubernetes"
    CNI = "cni"
    CSI = "csi"
    ADDON = "addon"

    @property
    def rank(self) -> int:
        return _LAYER_RANK[self]


_LAYER_RANK = {layer: i for i, layer in enumerate(Layer)}
#: Layers that hold at most one pack per cluster: two operating systems or two CNIs cannot coexist.
SINGLE_PACK_LAYERS = frozenset({Layer.OS, Layer.KUBERNETES, Layer.CNI})


class Target(enum.StrEnum):
    """Where a cluster runs. ``existing`` is any cluster strata adopts from a kubeconfig."""

    EKS = "eks"
    AKS = "aks"
    GKE = "gke"
    EDGE = "edge"
    EXISTING = "existing"


def _specifier(value: str) -> str:
    try:
        SpecifierSet(value)
    except InvalidSpecifier as exc:
        raise ValueError(f"{value!r} is not a version specifier such as '>=1.28,<1.35'") from exc
    return value


def _exact(value: str) -> str:
    if not re.match(EXACT_VERSION, value):
        raise ValueError(f"{value!r} is not an exact version such as 1.2.3 or v1.2.3 (no ranges or wildcards)")
    return value


ExactVersion = Annotated[str, AfterValidator(_exact)]
SemVer = Annotated[str, Field(pattern=SEMVER)]
Name = Annotated[str, Field(pattern=DNS_LABEL)]
Capability = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9.-]*(?::[a-z0-9][a-z0-9./-]*)?$",
        description="A capability such as 'cni', 'storage-class' or 'crds:cert-manager.io'.",
    ),
]


class HelmSource(Frozen):
    """A Helm chart from an HTTP(S) repository or an OCI registry, pinned to one exact version."""

    kind: Literal["helm"] = Field(description="Discriminator: a Helm chart.")
    repository: str = Field(
        pattern=r"^(https://|oci://)\S+$",
        description="Chart repository URL (https://...) or OCI registry reference (oci://...).",
    )
    chart: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Chart name in the repository.")
    version: ExactVersion = Field(description="Exact chart version; ranges are rejected.")


class ManifestSource(Frozen):
    """Plain Kubernetes manifests shipped in the pack folder, applied as one config group."""

    kind: Literal["manifests"] = Field(description="Discriminator: manifests in the pack folder.")
    files: tuple[str, ...] = Field(
        min_length=1,
        description="Manifest files relative to the pack folder, applied in the order given.",
    )

    @field_validator("files")
    @classmethod
    def _relative(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        for f in files:
            if f.startswith("/") or ".." in f.split("/"):
                raise ValueError(f"{f!r} must be a path inside the pack folder")
        return files


class ManagedService(enum.StrEnum):
    """How a cloud-managed pack is realised.

    ``eks-addon`` and ``aks-extension`` are resources created after the cluster (``aws.eks.Addon``,
    ``azure-native`` cluster extensions). ``cluster`` packs are settings the cluster component applies
    when it creates the cluster -- the node OS image, the Kubernetes distribution, AKS Azure CNI or GKE
    Dataplane V2, the managed disk CSI drivers -- because those clouds run them as part of the cluster.
    """

    EKS_ADDON = "eks-addon"
    AKS_EXTENSION = "aks-extension"
    CLUSTER = "cluster"


class ManagedSource(Frozen):
    """A component the cloud (or the cluster's distribution) runs for us."""

    kind: Literal["managed"] = Field(description="Discriminator: run by the cloud or the distribution.")
    service: ManagedService = Field(description="How the pack is realised; see ManagedService.")
    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="EKS add-on name, AKS extension type, or the cluster settings group "
        "(node-os, kubernetes, network, storage).",
    )
    version: ExactVersion | None = Field(
        default=None,
        description="Exact add-on version; omitted means the version the cloud pairs with the "
        "cluster's Kubernetes version.",
    )


Source = Annotated[HelmSource | ManifestSource | ManagedSource, Field(discriminator="kind")]


def settings_group(source: HelmSource | ManifestSource | ManagedSource) -> str | None:
    """The cluster settings group (node-os, kubernetes, network, storage) a pack's source configures, or None.

    A cluster-setting pack is realised by the cluster component itself, never installed into the cluster; this
    is the one place that rule is written, so the resolver, the plan checks and the settings map agree.
    """
    if isinstance(source, ManagedSource) and source.service is ManagedService.CLUSTER:
        return source.name
    return None


class SecretRef(Frozen):
    """Where a secret comes from, without putting it in the environment file.

    Exactly one of: an environment variable, a file, or a Pulumi config key of the current stack (which
    may be a ``secure:`` value). The value is always wrapped as a Pulumi secret at the point it is read.
    """

    env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="Environment variable.")
    file: str | None = Field(default=None, description="File path (~ expanded).")
    config: str | None = Field(default=None, description="Pulumi config key, e.g. 'secrets:edgeSshKey'.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [k for k in ("env", "file", "config") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of env, file or config (got {given or 'none'})")
        return self


class VariableType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"


_PYTHON_TYPES: dict[VariableType, tuple[type, ...]] = {
    VariableType.STRING: (str,),
    VariableType.INTEGER: (int,),
    VariableType.NUMBER: (int, float),
    VariableType.BOOLEAN: (bool,),
    VariableType.LIST: (list, tuple),
}


class GeneratedSecret(Frozen):
    """How the pack stack creates a secret that no environment sets: a ``random.RandomPassword``.

    The value is created once, kept encrypted in the stack's state and never leaves it (the stack exports
    only where it lives). It never changes on a later ``pulumi up``: the resource name is stable, it has no
    keepers, and changes to these settings are ignored for an existing password (rotate it explicitly with
    ``pulumi up --replace <urn>``).
    """

    length: int = Field(default=32, ge=16, le=128, description="Number of characters.")
    special: bool = Field(
        default=False,
        description="Include special characters. Off by default: generated values often land in URLs, INI or "
        "shell-quoted config, where letters and digits are always safe (32 of them carry ~190 bits).",
    )
    override_special: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[!-/:-@\[-`{-~]+$",
        description="With special: true, the special characters to draw from (e.g. '-_.').",
    )

    @model_validator(mode="after")
    def _special(self) -> GeneratedSecret:
        if self.override_special is not None and not self.special:
            raise ValueError("override_special needs special: true")
        return self


class Condition(Frozen):
    """A test on a pack's resolved values, e.g. ``{path: grafana.enabled, equals: true}``.

    Evaluated after every profile, variable and override has been applied, so a feature an environment turns
    off no longer asks for its credentials. A path that is absent never equals anything.
    """

    path: str = Field(description="Value path to read, e.g. 'grafana.enabled'.")
    equals: FactValue = Field(description="The value at `path` that makes the condition hold.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return format_path(parse_path(value))

    def holds(self, values: Any) -> bool:
        node = values
        for part in parse_path(self.path):
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return False
        return type(node) is type(self.equals) and node == self.equals


class Variable(Frozen):
    """A typed knob of a pack: the only way an environment changes a pack's values.

    Ops decide which variables a profile exposes; developers set exposed ones per cluster. The type and
    constraints are checked at plan time, so a wrong value never reaches a chart.
    """

    name: str = Field(pattern=IDENTIFIER, description="Variable name, unique within the pack.")
    type: VariableType = Field(description="Value type: string, integer, number, boolean or list.")
    path: str = Field(description="Value path the variable sets, e.g. 'controller.replicaCount'.")
    description: str = Field(min_length=1, description="What the variable changes and why one would.")
    default: Any = Field(default=None, description="Value written at `path` when nobody sets the variable.")
    required: bool = Field(
        default=False,
        description="When true the variable must be set by a profile "
        "or environment (there is no sensible default, e.g. a DNS zone).",
    )
    required_on: tuple[Target, ...] = Field(
        default=(), description="Targets on which the variable must be set (e.g. an Azure subscription on aks)."
    )
    allowed: tuple[Any, ...] | None = Field(default=None, description="The only values accepted.")
    pattern: str | None = Field(
        default=None, description="Regular expression a string value, or each item of a list, must match."
    )
    minimum: float | None = Field(default=None, description="Smallest accepted number.")
    maximum: float | None = Field(default=None, description="Largest accepted number.")
    secret: bool = Field(
        default=False,
        description="A credential (a password, a token): environments give a SecretRef (env, file or config "
        "key), never the value; it is read at deploy time as a Pulumi secret and never appears in a plan.",
    )
    required_when: Condition | None = Field(
        default=None,
        description="Required only while this holds on the pack's resolved values, e.g. a Grafana password "
        "only while `grafana.enabled` is true; while it does not hold, the variable is not asked for (and a "
        "generated secret is not created).",
    )
    generate: GeneratedSecret | None = Field(
        default=None,
        description="Secret variables only: when no environment gives a reference, the pack stack generates the "
        "value (stable across updates, secret in state, never exported). An environment's reference still wins.",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return format_path(parse_path(value))

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.default is not None:
            problem = self.check(self.default)
            if problem:
                raise ValueError(f"default {self.default!r}: {problem}")
        if (self.required or self.required_on) and self.default is not None:
            raise ValueError("a required variable cannot have a default")
        if self.secret and (
            self.type is not VariableType.STRING or self.default is not None or self.allowed or self.pattern
        ):
            raise ValueError("a secret variable is a string with no default, allowed values or pattern")
        if self.required_when is not None and (self.required or self.default is not None):
            raise ValueError("required_when replaces required and a default: give only required_when")
        if self.generate is not None and not self.secret:
            raise ValueError("only secret variables can be generated (add secret: true)")
        if self.generate is not None and (self.required or self.required_on):
            raise ValueError(
                "a generated secret is never required of an environment; use required_when to generate it only "
                "while a feature is on"
            )
        return self

    def wanted(self, values: Any) -> bool:
        """Whether the variable is in use for these resolved values (always, unless ``required_when`` says no)."""
        return self.required_when is None or self.required_when.holds(values)

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or None. Pure, so the resolver collects every problem."""
        if self.secret:
            if not isinstance(value, dict):
                return "a secret variable takes a reference such as {env: NAME}, {file: path} or {config: key}"
            try:
                SecretRef.model_validate(value)
            except ValidationError as exc:
                return "not a secret reference: " + "; ".join(e["msg"] for e in exc.errors(include_url=False))
            return None
        expected = _PYTHON_TYPES[self.type]
        # bool is an int in Python; a YAML `true` must never pass as an integer.
        if isinstance(value, bool) and self.type is not VariableType.BOOLEAN:
            return f"expected {self.type.value}, got boolean"
        if not isinstance(value, expected):
            return f"expected {self.type.value}, got {type(value).__name__}"
        if self.allowed is not None and value not in self.allowed:
            from packs.errors import did_you_mean  # errors reads this module's names

            words = [a for a in self.allowed if isinstance(a, str)]
            close = did_you_mean(value, words) if isinstance(value, str) else ""
            return f"{value!r} is not one of {list(self.allowed)}{close}"
        if self.pattern is not None and isinstance(value, str) and not re.fullmatch(self.pattern, value):
            return f"{value!r} does not match pattern {self.pattern!r}"
        if self.pattern is not None and isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if not isinstance(item, str) or not re.fullmatch(self.pattern, item):
                    return f"item [{i}] {item!r} does not match pattern {self.pattern!r}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"{value!r} is below the minimum {self.minimum:g}"
            if self.maximum is not None and value > self.maximum:
                return f"{value!r} is above the maximum {self.maximum:g}"
        return None


class Resources(Frozen):
    """What a pack needs from the cluster. CPU and memory are summed over a plan; nodes is a minimum."""

    nodes: int = Field(default=1, ge=1, description="Minimum number of nodes the pack needs.")
    cpu_millicores: int = Field(default=0, ge=0, description="CPU the pack requests, in millicores.")
    memory_mib: int = Field(default=0, ge=0, description="Memory the pack requests, in MiB.")


#: Azure built-in roles a pack may ask for, by name -> role definition GUID (the same in every tenant).
AZURE_BUILTIN_ROLES: dict[str, str] = {
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "DNS Zone Contributor": "befefa01-2a29-4197-83a8-272ff33ce314",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Private DNS Zone Contributor": "b12aa53e-6015-4669-85d0-8515ebb3ae7f",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}


#: ``{{ values.<path> }}`` (the pack's own resolved values on this cluster) or ``{{ cluster.<fact> }}``.
SCOPE_NAMESPACES = frozenset({"values", "cluster"})
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_\-/]+)*)\s*\}\}")


def _scope_template(value: str) -> str:
    """A scope is a literal or a template over the pack's values and the cluster's facts, nothing deploy-time."""
    if "{{" in value and not _TEMPLATE.search(value):
        raise ValueError(f"{value!r} is not a template such as '{{{{ values.extraArgs.azure-resource-group }}}}'")
    for m in _TEMPLATE.finditer(value):
        if m.group(1) not in SCOPE_NAMESPACES or not m.group(2):
            raise ValueError(
                f"{m.group(0)!r}: a grant's scope may use only {{{{ values.<path> }}}} (the pack's resolved values) "
                "or {{ cluster.<fact> }}"
            )
    return value


ScopeValue = Annotated[str, Field(min_length=1), AfterValidator(_scope_template)]


def _azure_role(role: str) -> str:
    if role not in AZURE_BUILTIN_ROLES:
        raise ValueError(f"unknown Azure built-in role {role!r} (known: {sorted(AZURE_BUILTIN_ROLES)})")
    return role


def _gcp_role(role: str) -> str:
    if not re.match(r"^(roles/|projects/[^/]+/roles/|organizations/\d+/roles/)[A-Za-z0-9_.]+$", role):
        raise ValueError(f"{role!r} is not a GCP role (roles/...)")
    return role


class AzureRoleGrant(Frozen):
    """An Azure built-in role for the pack's identity, on the resource group the pack actually works in.

    A DNS controller edits a zone that usually lives in a shared resource group, often in another
    subscription; granting the role on the cluster's own resource group would be refused at run time.
    """

    role: Annotated[str, AfterValidator(_azure_role)] = Field(description="Azure built-in role name.")
    subscription: ScopeValue | None = Field(
        default=None,
        description="Subscription id of the scope, e.g. '{{ values.extraArgs.azure-subscription-id }}'; "
        "default: the subscription the cluster is deployed with.",
    )
    resource_group: ScopeValue | None = Field(
        default=None,
        description="Resource group of the scope, e.g. '{{ values.extraArgs.azure-resource-group }}'; "
        "default: the cluster's resource group.",
    )


class GcpRoleGrant(Frozen):
    """A GCP IAM role for the pack's Google service account, in the project the pack actually works in."""

    role: Annotated[str, AfterValidator(_gcp_role)] = Field(description="GCP role, e.g. roles/dns.admin.")
    project: ScopeValue | None = Field(
        default=None,
        description="Project to bind the role in, e.g. '{{ values.extraArgs.google-project }}'; default: the "
        "cluster's project.",
    )


def _policy_templates(value: Any) -> None:
    if isinstance(value, str):
        _scope_template(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _policy_templates(item)
    elif isinstance(value, dict):
        for item in value.values():
            _policy_templates(item)


class Identity(Frozen):
    """A workload identity the pack needs; the pack stack creates it per cloud and fills the
    ``{{ identity.* }}`` placeholders in the values (IRSA role ARN, Azure client id, GCP service account).

    Grants are scoped to what the pack's values target: ``aws_policy`` strings, Azure role scopes and GCP
    projects may use ``{{ values.<path> }}`` and ``{{ cluster.<fact> }}``, resolved per cluster at plan time
    (a scope that cannot be resolved is a plan error). In ``aws_policy`` a list item whose template names a
    list value becomes one item per element, so ``hostedzone/{{ values.extraArgs.zone-id-filter }}`` lists
    exactly the zones the pack is told to manage.
    """

    service_account: Name = Field(description="Kubernetes service account the pack's workload runs as.")
    aws_policy_arns: tuple[str, ...] = Field(
        default=(), description="AWS managed policy ARNs for IRSA (their resources are fixed by AWS)."
    )
    aws_policy: dict[str, Any] | None = Field(
        default=None, description="Inline IAM policy document; strings may use {{ values.* }} and {{ cluster.* }}."
    )
    azure_roles: tuple[AzureRoleGrant, ...] = Field(
        default=(),
        description="Azure built-in roles: a role name (scope: the cluster's resource group) or "
        "{role, subscription, resource_group}.",
    )
    gcp_roles: tuple[GcpRoleGrant, ...] = Field(
        default=(), description="GCP IAM roles: a role (in the cluster's project) or {role, project}."
    )

    @field_validator("azure_roles", "gcp_roles", mode="before")
    @classmethod
    def _role_names(cls, value: Any) -> Any:
        """A bare role name is a grant at the cluster's own scope (the short form released packs use)."""
        if isinstance(value, list | tuple):
            return [{"role": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("aws_policy_arns")
    @classmethod
    def _arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        for arn in arns:
            if not re.match(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/\S+$", arn):
                raise ValueError(f"{arn!r} is not an IAM policy ARN")
        return arns

    @field_validator("aws_policy")
    @classmethod
    def _policy(cls, policy: dict[str, Any] | None) -> dict[str, Any] | None:
        _policy_templates(policy)
        return policy


class Constraints(Frozen):
    """Where a pack may land. Checked for every cluster before anything is built."""

    kubernetes: str = Field(default=">=1.0", description="Kubernetes version specifier, e.g. '>=1.28,<1.35'.")
    targets: tuple[Target, ...] = Field(min_length=1, description="Targets the pack supports.")
    resources: Resources = Field(default_factory=Resources, description="Nodes, CPU and memory needed.")

    @field_validator("kubernetes")
    @classmethod
    def _kubernetes(cls, value: str) -> str:
        return _specifier(value)


class Pack(Frozen):
    """One version of one pack: ``packs/catalog/<name>/<version>/pack.yaml``.

    Versions are immutable folders so that a profile naming ``cert-manager@1.16.2`` means the same bytes
    forever; a change is a new version, never an edit.
    """

    name: Name = Field(description="Pack name; also its folder name.")
    version: SemVer = Field(description="Pack version (semantic version); also its folder name.")
    layer: Layer = Field(description="Layer the pack belongs to: os, kubernetes, cni, csi or addon.")
    description: str = Field(min_length=1, description="What the pack gives a cluster.")
    source: Source = Field(description="Where the pack comes from: helm, manifests or managed.")
    namespace: Name | None = Field(
        default=None, description="Namespace the pack installs into; created explicitly by the pack stack."
    )
    depends: dict[Name, str] = Field(
        default_factory=dict,
        description="Packs this pack needs, name -> version specifier (e.g. {'cert-manager': '>=1.14'}).",
    )
    provides: tuple[Capability, ...] = Field(default=(), description="Capabilities this pack provides.")
    requires: tuple[Capability, ...] = Field(default=(), description="Capabilities this pack requires.")
    constraints: Constraints = Field(description="Kubernetes versions, targets and resources.")
    variables: tuple[Variable, ...] = Field(default=(), description="Typed knobs profiles may set/expose.")
    overlays: dict[Target, dict[str, Any]] = Field(
        default_factory=dict, description="Per-target values merged over the defaults (values.yaml)."
    )
    identity: Identity | None = Field(default=None, description="Workload identity the pack needs.")
    stateful: bool = Field(
        default=False,
        description="The pack owns data (volumes, a database) beyond what it can rebuild. Packs that require "
        "'storage-class' are stateful anyway. In production environments a stateful pack's namespace and objects "
        "are kept when it is removed, and removing it fails the plan unless the environment acknowledges the loss "
        "(strata:allow_data_loss).",
    )
    renamed_from: tuple[Name, ...] = Field(
        default=(),
        description="Former names of this pack, oldest first. Clusters that installed it under a former name "
        "keep their objects (aliases carry the Pulumi resources over, and the objects keep the first name).",
    )

    @field_validator("depends")
    @classmethod
    def _depends(cls, value: dict[str, str]) -> dict[str, str]:
        for spec in value.values():
            _specifier(spec)
        return value

    @field_validator("variables")
    @classmethod
    def _no_secrets_in_eks_addons(cls, variables: tuple[Variable, ...], info: ValidationInfo) -> tuple[Variable, ...]:
        """EKS keeps an add-on's ``configuration_values`` as plain text and returns them to anyone who may call
        ``DescribeAddon``, so a secret variable there would leak whatever protection Pulumi gives it."""
        source = info.data.get("source")
        if not (isinstance(source, ManagedSource) and source.service is ManagedService.EKS_ADDON):
            return variables
        secret = [f"variables[{i}] ({v.name})" for i, v in enumerate(variables) if v.secret]
        if secret:
            raise ValueError(
                f"{', '.join(secret)}: an eks-addon pack cannot take secret variables, because EKS stores add-on "
                "configuration values in plain text and returns them from DescribeAddon; keep the secret in a "
                "Kubernetes Secret the add-on reads (created by a helm or manifests pack, or outside strata) and "
                "pass only its name, or install the component as a helm pack, whose values Pulumi keeps encrypted"
            )
        return variables

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        names = [v.name for v in self.variables]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"variables declared twice: {dup}")
        if self.name in self.depends:
            raise ValueError("a pack cannot depend on itself")
        if self.name in self.renamed_from:
            raise ValueError("renamed_from lists the pack's current name")
        unsupported = sorted(set(self.overlays) - set(self.constraints.targets))
        if unsupported:
            raise ValueError(f"overlays for targets the pack does not support: {unsupported}")
        if self.source.kind != "managed" and self.namespace is None:
            raise ValueError("helm and manifest packs need a namespace")
        return self

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def owns_data(self) -> bool:
        """Marked stateful, or needs a StorageClass (so it keeps volumes)."""
        return self.stateful or "storage-class" in self.requires

    @property
    def semver(self) -> Version:
        return Version(self.version)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)


@functools.lru_cache(maxsize=1024)
def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``name@version``; the version must be exact because profiles are reproducible by design.

    Remembered: every row of an inventory names the same few profiles (a bad one raises, and is not)."""
    name, sep, version = ref.partition("@")
    if not sep or not re.match(DNS_LABEL, name) or not re.match(SEMVER, version):
        raise ValueError(f"{ref!r} is not a reference of the form name@1.2.3")
    try:
        Version(version)
    except InvalidVersion as exc:
        raise ValueError(f"{ref!r}: {exc}") from exc
    return name, version


PackRef = Annotated[str, Field(description="A pack or profile reference, name@exact-version.")]


class ProfileEntry(Frozen):
    """One pack in a profile layer, with what ops fix (values, locks) and what they open (expose)."""

    pack: PackRef = Field(description="The pack, as name@version.")
    targets: tuple[Target, ...] | None = Field(
        default=None,
        description="Only include the pack on these targets (e.g. the EKS CNI only on eks); default all "
        "targets of the profile.",
    )
    values: dict[str, Any] = Field(default_factory=dict, description="Values merged over the pack's.")
    variables: dict[str, Any] = Field(default_factory=dict, description="Pack variables set by ops.")
    locks: tuple[str, ...] = Field(
        default=(), description="Value paths nobody below the profile may change (ops control)."
    )
    expose: tuple[str, ...] = Field(default=(), description="Pack variables environments may set (developer freedom).")

    @field_validator("pack")
    @classmethod
    def _ref(cls, value: str) -> str:
        parse_ref(value)
        return value

    @field_validator("locks")
    @classmethod
    def _locks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(format_path(parse_path(p)) for p in value)

    @property
    def pack_name(self) -> str:
        return parse_ref(self.pack)[0]

    @property
    def pack_version(self) -> str:
        return parse_ref(self.pack)[1]


class DriftAction(enum.StrEnum):
    """What to do when a layer's live state or code moved away from what was last applied."""

    HEAL = "heal"  # re-apply the drifted resources (and their dependents)
    ALERT = "alert"  # report it and fail the check (exit code 3); a person decides
    IGNORE = "ignore"  # list it as ignored (e.g. node OS patched in place by the vendor)


class DriftPolicy(Frozen):
    """A profile's drift defaults per layer; ``locks`` are layers no environment may change."""

    layers: dict[Layer, DriftAction] = Field(
        default_factory=dict, description="Action per layer; a layer not listed stays at 'alert'."
    )
    locks: tuple[Layer, ...] = Field(default=(), description="Layers whose action environments cannot change.")

    @model_validator(mode="after")
    def _locks_set(self) -> DriftPolicy:
        unset = [layer.value for layer in self.locks if layer not in self.layers]
        if unset:
            raise ValueError(f"locks {unset} name layers the policy does not set")
        return self


def _known_rules(rules: Any) -> Any:
    """Rule ids must name a rule of policy/rules.py: a misspelt id would silently leave the real rule alone."""
    from packs.errors import did_you_mean
    from policy.rules import RULES

    unknown = [r for r in rules if r not in RULES]
    if unknown:
        hint = did_you_mean(str(unknown[0]), list(RULES))
        known = hint.lstrip("; ") if hint else f"rules are {', '.join(RULES)}"
        raise ValueError(f"unknown policy rule {', '.join(map(repr, unknown))}; {known}")
    return rules


#: Level per policy rule id, every id checked against policy/rules.py.
PolicyRules = Annotated[dict[str, PolicyLevel], AfterValidator(_known_rules)]


class ProfilePolicy(Frozen):
    """A profile's enforcement level per policy rule; ``locks`` are rules whose level no environment may change
    (a production profile locks the rules it relies on at ``mandatory``)."""

    rules: PolicyRules = Field(
        default_factory=dict, description="Level per rule id: mandatory, advisory or disabled."
    )
    locks: tuple[str, ...] = Field(default=(), description="Rules whose level environments cannot change.")

    @model_validator(mode="after")
    def _locks_set(self) -> ProfilePolicy:
        unset = [r for r in self.locks if r not in self.rules]
        if unset:
            raise ValueError(f"locks {unset} name rules the profile does not set a level for")
        return self


class ProfileKind(enum.StrEnum):
    INFRASTRUCTURE = "infrastructure"
    ADDON = "addon"


class Profile(Frozen):
    """A versioned, ordered stack of packs: ``packs/profiles/<name>/<version>.yaml``.

    An infrastructure profile carries the base layers (OS, Kubernetes, CNI, CSI) and add-ons; add-on
    profiles carry add-ons only, so a team can layer observability or GitOps onto any base.
    """

    name: Name = Field(description="Profile name; also its folder name.")
    version: SemVer = Field(description="Profile version; also the file name. Released versions are immutable.")
    description: str = Field(min_length=1, description="Who the profile is for.")
    kind: ProfileKind = Field(description="infrastructure (all layers) or addon (addon layer only).")
    targets: tuple[Target, ...] = Field(min_length=1, description="Targets the profile is built for.")
    layers: tuple[ProfileEntry, ...] = Field(min_length=1, description="Packs in layer order.")
    drift: DriftPolicy = Field(
        default_factory=DriftPolicy, description="Drift remediation per layer (heal/alert/ignore), lockable."
    )
    policy: ProfilePolicy = Field(
        default_factory=ProfilePolicy, description="Policy rule levels (mandatory/advisory/disabled), lockable."
    )

    @model_validator(mode="after")
    def _targets_subset(self) -> Profile:
        for i, entry in enumerate(self.layers):
            extra = sorted(set(entry.targets or ()) - set(self.targets))
            if extra:
                raise ValueError(f"layers[{i}].targets {extra} are not targets of the profile")
        names = [e.pack_name for e in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"packs listed twice: {dup}")
        return self

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class ClusterFacts(Frozen):
    """What profiles may template with (``{{ cluster.<fact> }}``) and constraints are checked against.

    Facts are known before anything is deployed -- from the environment file or an inventory row -- so
    an offline plan shows exactly the values a cluster will get.
    """

    name: Name = Field(description="Cluster name.")
    target: Target = Field(description="Where the cluster runs.")
    region: str | None = Field(default=None, description="Cloud region/location, or the edge site's region.")
    kubernetes_version: str = Field(pattern=r"^1\.\d+$", description="Kubernetes minor version, e.g. '1.31'.")
    labels: dict[str, str] = Field(default_factory=dict, description="Cluster labels (also cloud tags).")
    nodes: int | None = Field(default=None, ge=1, description="Node count at the smallest scale, if known.")
    cpu_millicores: int | None = Field(default=None, ge=1, description="Total allocatable CPU, if known.")
    memory_mib: int | None = Field(default=None, ge=1, description="Total allocatable memory, if known.")
    capabilities: tuple[str, ...] = Field(
        default=(), description="Capabilities the cluster has without any pack (e.g. an adopted cluster's CNI)."
    )
    extra: dict[str, FactValue] = Field(
        default_factory=dict, description="Site or account facts, e.g. account_id, site, rack."
    )

    @model_validator(mode="after")
    def _no_shadowing(self) -> ClusterFacts:
        shadowed = sorted(set(self.extra) & set(type(self).model_fields))
        if shadowed:
            raise ValueError(f"extra facts may not shadow built-in facts: {shadowed}")
        return self

    def lookup(self, dotted: str) -> Any:
        """Resolve ``name``, ``labels.site`` or an extra fact; KeyError when absent."""
        head, _, rest = dotted.partition(".")
        if head in ("labels", "extra"):
            if not rest:
                raise KeyError(dotted)
            return getattr(self, head)[rest]
        if rest:
            raise KeyError(dotted)
        if head in type(self).model_fields:
            value = getattr(self, head)
            if value is None:
                raise KeyError(dotted)
            return value.value if isinstance(value, enum.Enum) else value
        return self.extra[head]
