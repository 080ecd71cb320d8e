"""Policy rules as plain functions over small typed views: one rule, two enforcement points.

Every rule takes a *view* (a frozen dataclass naming just what the rule reads: an EKS cluster's endpoint
settings, a Helm chart's source, a team namespace's guard rails) and the environment's :class:`Params`, and
yields :class:`Violation` s. Views are built twice from two sources:

- offline, by ``stacks/policy.py``, from the environment's cluster specs and resolved plans (``strata check``,
  and ``strata plan`` / the Pulumi program through ``check_environment``), so a violation names a file and a
  field path before anything exists;
- at deploy time, by the CrossGuard pack (``policy/__main__.py``), from the inputs of the resources a program
  registers -- strata's own or any other program's -- so what the offline check proved is enforced again by
  the engine, and a consumer stack that bypasses strata's components is held to the same rules.

This module imports only the standard library: the CrossGuard pack runs in its own virtualenv with nothing of
strata installed, and the offline plan must load no Pulumi module. Where a provider has a default (an EKS
endpoint is public unless told otherwise), a view's default is the provider's, so an absent input is judged as
the cloud will apply it -- the semantics of Pulumi's published policy packs.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class Level(enum.StrEnum):
    """What a violation does: ``mandatory`` stops the plan (and the deployment), ``advisory`` is reported,
    ``disabled`` is not evaluated. The names are CrossGuard's enforcement levels."""

    MANDATORY = "mandatory"
    ADVISORY = "advisory"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Violation:
    """One thing wrong with one subject. ``field`` is the view's field the problem is about, so each
    enforcement point can translate it (a file's field path offline, a resource property under the engine)."""

    rule: str
    subject: str
    message: str
    field: str = ""


#: Repositories any chart may come from when ops list none: TLS-protected HTTP repositories and OCI registries.
SECURE_SCHEMES = ("https://", "oci://")
#: Tags strata puts on every cloud resource (``strata-environment`` always; ``owner`` from ``strata:tags``).
DEFAULT_REQUIRED_TAGS = ("owner", "strata-environment")


@dataclass(frozen=True)
class Params:
    """Per-environment facts and settings the rules read (``strata:policy`` offline, the policy pack config
    under the engine)."""

    production: bool = False
    #: URL prefixes charts may come from; empty: any ``https://`` or ``oci://`` repository.
    allowed_repositories: tuple[str, ...] = ()
    required_tags: tuple[str, ...] = DEFAULT_REQUIRED_TAGS


# ------------------------------------------------------------------------------------------------ views


@dataclass(frozen=True)
class EksCluster:
    """An EKS control plane; defaults are AWS's for an absent input."""

    name: str
    endpoint_public_access: bool = True
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    secrets_encryption: bool = False
    log_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class AksCluster:
    """An AKS managed cluster; defaults are Azure's for an absent input."""

    name: str
    private_cluster: bool = False
    authorized_ip_ranges: tuple[str, ...] = ()
    local_accounts_disabled: bool = False
    rbac: bool = True
    azure_rbac: bool = False
    network_policy: str | None = None


@dataclass(frozen=True)
class GkeCluster:
    """A GKE cluster; defaults are Google's for an absent input."""

    name: str
    private_nodes: bool = False
    workload_pool: str | None = None
    release_channel: str | None = None
    shielded_nodes: bool = True


@dataclass(frozen=True)
class GkeNodePool:
    """A GKE node pool's shielded-instance settings (Compute Engine defaults: integrity on, secure boot off)."""

    name: str
    secure_boot: bool = False
    integrity_monitoring: bool = True


@dataclass(frozen=True)
class Protectable:
    """A cluster or node pool, and whether deleting it needs an explicit unprotect first."""

    kind: str
    name: str
    protected: bool


@dataclass(frozen=True)
class HelmChart:
    name: str
    chart: str
    version: str | None
    repository: str | None


@dataclass(frozen=True)
class Workload:
    """Something that runs containers; ``images`` are (field path, image reference)."""

    kind: str
    name: str
    images: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TeamNamespace:
    """A namespace an application team owns, and the guard rails around it."""

    name: str
    team: str
    has_quota: bool
    has_limit_range: bool
    default_deny: bool
    load_balancers: tuple[str, ...] = ()
    load_balancers_allowed: bool = False


@dataclass(frozen=True)
class CloudResource:
    """A cloud resource's tags (AWS, Azure) or labels (GCP); ``None`` when the resource has none at all."""

    kind: str
    name: str
    tags: Mapping[str, str] | None


@dataclass(frozen=True)
class Values:
    """Configuration a deployment writes somewhere readable (Helm values, a ConfigMap).

    ``secret_marker`` recognises a value that is a reference to a secret rather than the secret itself (strata
    writes ``{{ secret.<variable> }}`` and fills it at deploy time as a Pulumi secret).
    """

    owner: str
    values: Mapping[str, Any]
    secret_marker: str | None = None


@dataclass(frozen=True)
class EdgeSite:
    """An edge site's hosts: (host name, whether its SSH host key is pinned)."""

    name: str
    hosts: tuple[tuple[str, bool], ...]


# ------------------------------------------------------------------------------------------------ rules

Check = Callable[[Any, Params], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    """A rule: its id (the name in ``strata:policy`` and in the CrossGuard pack), what it requires, the
    views it reads, how to fix a violation, and whether it judges the whole stack rather than one resource."""

    id: str
    title: str
    subjects: tuple[type, ...]
    check: Check
    fix: str
    stack: bool = False

    def __call__(self, subject: Any, params: Params | None = None) -> list[Violation]:
        if not isinstance(subject, self.subjects):
            return []
        return list(self.check(subject, params or Params()))


RULES: dict[str, Rule] = {}


def rule(
    id: str, title: str, subjects: type | tuple[type, ...], fix: str, stack: bool = False
) -> Callable[[Check], Check]:
    """Register a rule function under ``id`` (kebab-case, stable: environments and profiles name it)."""

    def register(check: Check) -> Check:
        if id in RULES:
            raise ValueError(f"rule {id!r} registered twice")
        kinds = subjects if isinstance(subjects, tuple) else (subjects,)
        RULES[id] = Rule(id, title, kinds, check, fix, stack)
        return check

    return register


def _open_to_internet(cidrs: Iterable[str]) -> list[str]:
    """The CIDRs that admit the whole internet (``0.0.0.0/0``, ``::/0``) or are not networks at all."""
    out = []
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            out.append(cidr)
            continue
        if net.prefixlen == 0:
            out.append(cidr)
    return out


@rule(
    "eks-endpoint-restricted",
    "The EKS API endpoint is private, or public only to an allow-list of networks.",
    EksCluster,
    "set endpoint_public_access: false, or public_access_cidrs to the networks that administer the cluster",
)
def eks_endpoint_restricted(c: EksCluster, p: Params) -> Iterator[Violation]:
    if not c.endpoint_public_access:
        return
    if not c.public_access_cidrs:
        yield Violation("eks-endpoint-restricted", c.name, "the public API endpoint has no allow-list (AWS then "
                        "admits 0.0.0.0/0)", "public_access_cidrs")
        return
    wide = _open_to_internet(c.public_access_cidrs)
    if wide:
        yield Violation(
            "eks-endpoint-restricted",
            c.name,
            f"the public API endpoint admits the whole internet ({', '.join(wide)})",
            "public_access_cidrs",
        )


@rule(
    "eks-secrets-encryption",
    "EKS envelope-encrypts Kubernetes Secrets with a KMS key.",
    EksCluster,
    "set secrets_encryption: true (strata creates the KMS key, or give kms_key_arn)",
)
def eks_secrets_encryption(c: EksCluster, p: Params) -> Iterator[Violation]:
    if not c.secrets_encryption:
        yield Violation("eks-secrets-encryption", c.name, "Secrets are not envelope-encrypted with KMS",
                        "secrets_encryption")


@rule(
    "eks-audit-logs",
    "EKS sends the control plane's audit log (and API and authenticator logs) to CloudWatch.",
    EksCluster,
    "include audit, api and authenticator in log_types",
)
def eks_audit_logs(c: EksCluster, p: Params) -> Iterator[Violation]:
    missing = [t for t in ("api", "audit", "authenticator") if t not in c.log_types]
    if missing:
        yield Violation("eks-audit-logs", c.name, f"control-plane log types {missing} are not enabled", "log_types")


@rule(
    "aks-api-restricted",
    "The AKS API server is private, or reachable only from authorised IP ranges.",
    AksCluster,
    "set private_cluster: true, or authorized_ip_ranges to the networks that administer the cluster",
)
def aks_api_restricted(c: AksCluster, p: Params) -> Iterator[Violation]:
    if c.private_cluster:
        return
    if not c.authorized_ip_ranges:
        yield Violation("aks-api-restricted", c.name, "the API server is public and has no authorised IP ranges",
                        "authorized_ip_ranges")
        return
    wide = _open_to_internet(c.authorized_ip_ranges)
    if wide:
        yield Violation("aks-api-restricted", c.name, f"authorised IP ranges admit the whole internet "
                        f"({', '.join(wide)})", "authorized_ip_ranges")


@rule(
    "aks-local-accounts-disabled",
    "AKS local accounts (the static cluster-admin credential) are disabled: every login goes through Entra ID.",
    AksCluster,
    "set disableLocalAccounts: true (strata's AKS component always does)",
)
def aks_local_accounts_disabled(c: AksCluster, p: Params) -> Iterator[Violation]:
    if not c.local_accounts_disabled:
        yield Violation("aks-local-accounts-disabled", c.name, "local accounts are enabled: a static admin "
                        "kubeconfig bypasses Entra ID and cannot be revoked per user", "local_accounts_disabled")


@rule(
    "aks-azure-rbac",
    "AKS uses Kubernetes RBAC with Entra ID and Azure RBAC for Kubernetes authorisation.",
    AksCluster,
    "set enableRBAC: true and aadProfile.enableAzureRBAC: true (strata's AKS component always does)",
)
def aks_azure_rbac(c: AksCluster, p: Params) -> Iterator[Violation]:
    if not c.rbac:
        yield Violation("aks-azure-rbac", c.name, "Kubernetes RBAC is disabled", "rbac")
    if not c.azure_rbac:
        yield Violation("aks-azure-rbac", c.name, "Azure RBAC for Kubernetes authorisation is not enabled",
                        "azure_rbac")


@rule(
    "aks-network-policy",
    "AKS enforces Kubernetes NetworkPolicy (azure, cilium or calico).",
    AksCluster,
    "use a profile whose network pack sets network_policy (azure-cni-overlay does)",
)
def aks_network_policy(c: AksCluster, p: Params) -> Iterator[Violation]:
    if not c.network_policy or c.network_policy.lower() == "none":
        yield Violation("aks-network-policy", c.name, "no network policy engine: NetworkPolicy objects are "
                        "accepted and silently not enforced", "network_policy")


@rule(
    "gke-private-nodes",
    "GKE nodes have internal IP addresses only.",
    GkeCluster,
    "set private_nodes: true",
)
def gke_private_nodes(c: GkeCluster, p: Params) -> Iterator[Violation]:
    if not c.private_nodes:
        yield Violation("gke-private-nodes", c.name, "nodes get public IP addresses", "private_nodes")


@rule(
    "gke-workload-identity",
    "GKE workload identity is on: pods act as Google service accounts, never as the node's.",
    GkeCluster,
    "set workloadIdentityConfig.workloadPool to <project>.svc.id.goog (strata's GKE component always does)",
)
def gke_workload_identity(c: GkeCluster, p: Params) -> Iterator[Violation]:
    if not c.workload_pool or not c.workload_pool.endswith(".svc.id.goog"):
        yield Violation("gke-workload-identity", c.name, "workload identity is off: every pod can use the node's "
                        "service account", "workload_pool")


@rule(
    "gke-release-channel",
    "GKE is enrolled in a release channel; production stays off RAPID (its versions carry no GKE SLA).",
    GkeCluster,
    "set release_channel: REGULAR or STABLE",
)
def gke_release_channel(c: GkeCluster, p: Params) -> Iterator[Violation]:
    channel = (c.release_channel or "UNSPECIFIED").upper()
    if channel == "UNSPECIFIED":
        yield Violation("gke-release-channel", c.name, "not enrolled in a release channel: nobody patches the "
                        "control plane on a schedule", "release_channel")
    elif channel == "RAPID" and p.production:
        yield Violation("gke-release-channel", c.name, "the RAPID channel in production (no GKE SLA)",
                        "release_channel")


@rule(
    "gke-shielded-nodes",
    "GKE shielded nodes: secure boot and integrity monitoring on every node pool.",
    (GkeCluster, GkeNodePool),
    "enable shielded nodes on the cluster and secure boot and integrity monitoring on each pool (strata does)",
)
def gke_shielded_nodes(c: GkeCluster | GkeNodePool, p: Params) -> Iterator[Violation]:
    if isinstance(c, GkeCluster):
        if not c.shielded_nodes:
            yield Violation("gke-shielded-nodes", c.name, "shielded GKE nodes are disabled", "shielded_nodes")
        return
    if not c.secure_boot:
        yield Violation("gke-shielded-nodes", c.name, "secure boot is off", "secure_boot")
    if not c.integrity_monitoring:
        yield Violation("gke-shielded-nodes", c.name, "integrity monitoring is off", "integrity_monitoring")


@rule(
    "production-protected",
    "In production, clusters and node pools are protected: deleting one needs an explicit unprotect.",
    Protectable,
    "keep strata:production: true and remove protect: false from the cluster",
)
def production_protected(c: Protectable, p: Params) -> Iterator[Violation]:
    if p.production and not c.protected:
        yield Violation("production-protected", c.name, f"the {c.kind} is not protected from deletion in "
                        "production", "protect")


_EXACT = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@rule(
    "helm-chart-pinned",
    "Every Helm chart is pinned to an exact version and comes from an allowed repository.",
    HelmChart,
    "pin an exact chart version (1.2.3, no range) from a repository in strata:policy.allowed_repositories",
)
def helm_chart_pinned(c: HelmChart, p: Params) -> Iterator[Violation]:
    if not c.version or not _EXACT.match(c.version):
        shown = repr(c.version) if c.version else "no version"
        yield Violation("helm-chart-pinned", c.name, f"chart {c.chart} has {shown}: a range or the latest "
                        "version changes what is installed without a change to the code", "version")
    repository = c.repository or (c.chart if c.chart.startswith(SECURE_SCHEMES) else "")
    if not repository:
        yield Violation("helm-chart-pinned", c.name, f"chart {c.chart} comes from no repository (a local path "
                        "is not reviewed or reproducible)", "repository")
    elif p.allowed_repositories:
        if not any(repository.rstrip("/").startswith(a.rstrip("/")) for a in p.allowed_repositories):
            yield Violation("helm-chart-pinned", c.name, f"repository {repository} is not allowed (allowed: "
                            f"{', '.join(p.allowed_repositories)})", "repository")
    elif not repository.startswith(SECURE_SCHEMES):
        yield Violation("helm-chart-pinned", c.name, f"repository {repository} is neither https:// nor oci://",
                        "repository")


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned (untagged or ``:latest``), or None. A digest pins it whatever
    the tag; the tag is what follows the last ``:`` after the last ``/`` (a registry port is no tag)."""
    if "@sha256:" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (it means :latest)"
    if name.rsplit(":", 1)[1] == "latest":
        return "uses the :latest tag"
    return None


def chart_images(values: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Image references in Helm values: ``image: repo:tag`` strings and ``image: {repository, tag}`` maps.

    An empty ``tag`` means "the chart's appVersion", which the pinned chart version pins; ``latest`` does not.
    A ``digest`` pins the image whatever the tag.
    """
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(value, str) and value and "{{" not in value:
                yield where, value
            elif key == "image" and isinstance(value, Mapping):
                repo, tag = value.get("repository"), value.get("tag")
                if isinstance(repo, str) and tag is not None and str(tag) != "" and not value.get("digest"):
                    yield f"{where}.tag", f"{repo}:{tag}"
                yield from chart_images(value, where)
            else:
                yield from chart_images(value, where)
    elif isinstance(values, list | tuple):
        for i, item in enumerate(values):
            yield from chart_images(item, f"{path}[{i}]")


#: Where the pod spec sits in each kind that runs pods (the rest: spec.template.spec).
_POD_PATHS = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_images(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, image) of every container of a Kubernetes object that runs pods."""
    route = _POD_PATHS.get(str(obj.get("kind")), ("spec", "template", "spec"))
    spec: Any = obj
    for step in route:
        spec = spec.get(step) if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping):
        return
    prefix = ".".join(route)
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(group) or ()):
            if isinstance(container, Mapping):
                yield f"{prefix}.{group}[{i}].image", str(container.get("image") or "")


@rule(
    "image-tag-pinned",
    "No container image is untagged or :latest in what strata applies.",
    Workload,
    "give every image an exact tag or a digest (image: registry/app:1.4.2 or @sha256:...)",
)
def image_tag_pinned(w: Workload, p: Params) -> Iterator[Violation]:
    for path, image in w.images:
        problem = image_problem(image)
        if problem:
            yield Violation("image-tag-pinned", w.name, f"{w.kind} image {image!r} {problem}", path)


def is_default_deny(spec: Mapping[str, Any]) -> bool:
    """A NetworkPolicy spec selecting every pod for both directions with no ingress rule: deny by default.

    Egress rules may remain (DNS to kube-system is what a team space allows); any ingress rule opens the door."""
    types = set(spec.get("policyTypes") or ())
    return not (spec.get("podSelector") or {}) and {"Ingress", "Egress"} <= types and not spec.get("ingress")


@rule(
    "team-namespace-guardrails",
    "Every team namespace has a ResourceQuota, a LimitRange and a default-deny NetworkPolicy.",
    TeamNamespace,
    "create the namespace through a TeamSpace (teams/<team>.yaml), which adds all three",
    stack=True,
)
def team_namespace_guardrails(n: TeamNamespace, p: Params) -> Iterator[Violation]:
    for present, what, fld in (
        (n.has_quota, "ResourceQuota", "quota"),
        (n.has_limit_range, "LimitRange", "limit_range"),
        (n.default_deny, "default-deny NetworkPolicy", "network_policy"),
    ):
        if not present:
            yield Violation("team-namespace-guardrails", n.name, f"team {n.team}'s namespace has no {what}", fld)


@rule(
    "team-load-balancer",
    "No Service of type LoadBalancer in a team namespace unless ops allowed the team one.",
    TeamNamespace,
    "expose the service through the cluster's ingress or gateway, or ask ops to allow the team load_balancers in "
    "strata:teams (and set quota.load_balancers in its team file)",
    stack=True,
)
def team_load_balancer(n: TeamNamespace, p: Params) -> Iterator[Violation]:
    if n.load_balancers and not n.load_balancers_allowed:
        yield Violation("team-load-balancer", n.name, f"LoadBalancer service(s) {', '.join(n.load_balancers)} in "
                        f"team {n.team}'s namespace, which may not create cloud load balancers", "load_balancers")


#: Keys whose value is a credential; ``existing*`` keys name a Secret that holds one, which is fine.
_CREDENTIAL = re.compile(
    r"(password|passwd|passphrase|token|apikey|privatekey|clientsecret|secretkey|accesskey|secretaccesskey|"
    r"credentials?|kubeconfig)$"
)


def is_credential_key(key: str) -> bool:
    flat = re.sub(r"[-_.]", "", key).lower()
    return not flat.startswith("existing") and _CREDENTIAL.search(flat) is not None


def _credential_leaves(values: Any, marker: str | None, path: str = "") -> Iterator[str]:
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and is_credential_key(str(key)):
                if value and not (marker and marker in value):
                    yield where
            else:
                yield from _credential_leaves(value, marker, where)
    elif isinstance(values, list | tuple):
        for i, item in enumerate(values):
            yield from _credential_leaves(item, marker, f"{path}[{i}]")


@rule(
    "credentials-as-secrets",
    "Credentials (passwords, tokens, keys, kubeconfigs) reach the state and the cluster only as secrets.",
    Values,
    "give the credential through a secret variable ({env: NAME}, {file: path} or {config: key}), never as a value",
)
def credentials_as_secrets(v: Values, p: Params) -> Iterator[Violation]:
    for path in _credential_leaves(v.values, v.secret_marker):
        yield Violation("credentials-as-secrets", v.owner, f"{path} holds a credential in plain text", path)


@rule(
    "required-tags",
    "Every cloud resource carries the required tags (owner and environment by default).",
    CloudResource,
    "add the tag to strata:tags (or to the cluster's labels)",
)
def required_tags(r: CloudResource, p: Params) -> Iterator[Violation]:
    tags = r.tags or {}
    missing = [t for t in p.required_tags if not str(tags.get(t) or "").strip()]
    if missing:
        yield Violation("required-tags", r.name, f"{r.kind} lacks required tag(s) {', '.join(missing)}", "tags")


@rule(
    "edge-host-key-pinned",
    "In production, every edge host's SSH host key is pinned, so a spoofed address never receives the cluster token.",
    EdgeSite,
    "set host_key on each host (ssh-keyscan output, e.g. 'ssh-ed25519 AAAA...')",
)
def edge_host_key_pinned(s: EdgeSite, p: Params) -> Iterator[Violation]:
    if not p.production:
        return
    for i, (host, pinned) in enumerate(s.hosts):
        if not pinned:
            yield Violation("edge-host-key-pinned", s.name, f"host {host} accepts any SSH host key",
                            f"hosts[{i}].host_key")


@dataclass(frozen=True)
class Finding:
    """A violation with the level it is enforced at in this environment."""

    violation: Violation
    level: Level


@dataclass
class Evaluation:
    """What evaluating a set of subjects found, split by level."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.MANDATORY]

    @property
    def advisory(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.ADVISORY]


def evaluate(subjects: Iterable[Any], params: Params, levels: Mapping[str, Level]) -> Evaluation:
    """Run every enabled rule on every subject it reads. ``levels`` has a level for every rule id."""
    out = Evaluation()
    active = [r for r in RULES.values() if levels.get(r.id, Level.MANDATORY) is not Level.DISABLED]
    for subject in subjects:
        for r in active:
            for violation in r(subject, params):
                out.findings.append(Finding(violation, levels.get(r.id, Level.MANDATORY)))
    return out


def default_levels(production: bool) -> dict[str, Level]:
    """Production enforces every rule; elsewhere every rule is advisory until an environment says otherwise."""
    return dict.fromkeys(RULES, Level.MANDATORY if production else Level.ADVISORY)
