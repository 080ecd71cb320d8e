"""Environments: the ``strata:`` config of ``stacks/config/Pulumi.<env>.yaml``, validated as one spec.

The same file drives the offline ``strata plan`` and ``pulumi up`` (Pulumi reads it as structured stack
config). An environment may pull clusters from an inventory (CSV or YAML) so that hundreds of edge sites
are rows, not copies of YAML.

Config keys (all under the ``strata:`` namespace):

- ``strata:production`` -- protect clusters, networks and keys from deletion, keep data-owning packs (default
  false).
- ``strata:tags`` -- tags/labels put on every cloud resource.
- ``strata:stacks`` -- ``environment`` (one stack for all clusters) or ``cluster`` (one stack per cluster,
  named ``<env>.<cluster>``), so a large fleet is never one giant stack.
- ``strata:clusters`` -- a list of clusters (see components/clusters/spec.py for every field).
- ``strata:inventory`` -- ``{file: <path relative to the config folder>, defaults: {<cluster fields>}}``.
- ``strata:delivery`` -- ``pulumi`` (default: Pulumi applies every pack) or ``flux`` (Pulumi installs Flux, which
  then reconciles every Helm pack in the cluster); a cluster's own ``delivery`` field wins.
- ``strata:bundle_source`` -- ``{kind: GitRepository|OCIRepository, name: flux-system}``: the Flux source a site
  syncs its rendered bundle from (``strata render``).
- ``strata:next_delivery`` -- the delivery a deployed cluster is being prepared to switch to (one ``pulumi up``
  before ``delivery`` changes; stacks/delivery_switch.py); a cluster's own ``next_delivery`` wins.
- ``strata:mirror`` -- ``oci://registry/path``: every chart is fetched from ``<mirror>/<chart>`` (air-gapped sites);
  a cluster's (or inventory row's) own ``mirror`` wins.
- ``strata:drift`` -- drift remediation per layer, e.g. ``{os: ignore, kubernetes: alert, cni: heal}``
  (``heal``, ``alert`` or ``ignore``; profiles set defaults and may lock a layer; see packs/drift.py).
- ``strata:allow_data_loss`` -- in production, the data-owning packs a change may drop (stacks/retention.py).
- ``strata:policy`` -- ``{rules: {<rule>: mandatory|advisory|disabled}, allowed_repositories: [...],
  required_tags: [...]}``: how the policy rules (policy/rules.py) are enforced here; see docs/policy.md.
- ``strata:reconcile`` -- continuous reconciliation by the Pulumi Kubernetes Operator (stacks/reconcile.py).
- ``strata:teams`` -- the ceilings of team files (``teams/<team>.yaml``) here: per-team maximums, load balancers,
  the pack variables teams may set (components/team_spec.py, docs/teams.md).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from components.clusters.spec import AnyClusterSpec, ClusterSpec
from components.delivery.plan import MIRROR_PATTERN, DeliveryMode
from components.team_spec import TeamsSettings
from packs.errors import PlanError, PlanErrors, did_you_mean, from_validation, load_yaml
from packs.model import DriftAction, Frozen, Layer, PolicyRules, Target
from policy.rules import DEFAULT_REQUIRED_TAGS
from stacks.reconcile import ReconcileSettings

CONFIG_DIR = Path(__file__).resolve().parent / "config"
NAMESPACE = "strata"
KNOWN_KEYS = (
    "production",
    "tags",
    "stacks",
    "clusters",
    "inventory",
    "drift",
    "allow_data_loss",
    "policy",
    "reconcile",
    "delivery",
    "next_delivery",
    "mirror",
    "bundle_source",
    "teams",
)

_CLUSTER = TypeAdapter(Annotated[AnyClusterSpec, Field()])
#: Each target's spec model, so an unknown field can be matched against that target's fields.
_SPECS: dict[str, type[ClusterSpec]] = {
    get_args(cls.model_fields["target"].annotation)[0].value: cls for cls in get_args(get_args(AnyClusterSpec)[0])
}


class Inventory(Frozen):
    """Clusters listed as rows: every row is ``defaults`` merged with the row's own fields."""

    file: str = Field(description="CSV or YAML file, relative to the config folder.")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Cluster fields shared by every row.")


class PolicySettings(Frozen):
    """``strata:policy``: enforcement per rule and the settings rules read. Production environments enforce
    every rule unless they say otherwise; elsewhere rules are advisory."""

    rules: PolicyRules = Field(
        default_factory=dict, description="Level per rule id (mandatory, advisory, disabled); profiles may lock one."
    )
    allowed_repositories: tuple[str, ...] = Field(
        default=(), description="URL prefixes Helm charts may come from; default any https:// or oci:// repository."
    )
    required_tags: tuple[str, ...] = Field(
        default=DEFAULT_REQUIRED_TAGS, description="Tags every cloud resource must carry."
    )


class BundleSource(Frozen):
    """``strata:bundle_source``: the Flux source each site syncs its rendered bundle from (``strata render``)."""

    kind: Literal["GitRepository", "OCIRepository"] = Field(
        default="GitRepository",
        description="GitRepository (the bundle committed to Git) or OCIRepository (pushed as an OCI artifact).",
    )
    name: str = Field(
        default="flux-system",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Its name in the flux-system namespace; `flux bootstrap` names it flux-system.",
    )


class EnvironmentSettings(Frozen):
    production: bool = Field(
        default=False, description="Protect clusters, networks and keys from deletion; keep data-owning packs."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every cloud resource.")
    stacks: Literal["environment", "cluster"] = Field(
        default="environment", description="One stack for the environment, or one stack per cluster."
    )
    clusters: tuple[dict[str, Any], ...] = Field(default=(), description="Clusters (validated per target).")
    inventory: Inventory | None = Field(default=None, description="Clusters from an inventory file.")
    drift: dict[Layer, DriftAction] = Field(
        default_factory=dict, description="Drift remediation per layer (heal, alert, ignore) for `strata fleet drift`."
    )
    allow_data_loss: tuple[str, ...] = Field(
        default=(),
        description="Production only: data-owning packs this change may drop, as '<pack>' (any cluster), "
        "'<cluster>/<pack>' or '<cluster>/*' (a cluster removed from the stack). See stacks/retention.py.",
    )
    policy: PolicySettings = Field(default_factory=PolicySettings, description="Policy enforcement (docs/policy.md).")
    reconcile: ReconcileSettings | None = Field(
        default=None, description="Continuous reconciliation by the Pulumi Kubernetes Operator (docs/operator.md)."
    )
    delivery: DeliveryMode = Field(
        default=DeliveryMode.PULUMI,
        description="How packs reach every cluster (a cluster's own `delivery` wins): pulumi or flux.",
    )
    bundle_source: BundleSource = Field(
        default_factory=BundleSource,
        description="The Flux source a site syncs its bundle from: manifest packs in a rendered bundle are "
        "Kustomizations of their folder in it (default GitRepository flux-system).",
    )
    next_delivery: DeliveryMode | None = Field(
        default=None,
        description="The delivery every cluster will switch to (a cluster's own `next_delivery` wins), deployed "
        "once before `delivery` changes so no release is uninstalled by the switch.",
    )
    mirror: str | None = Field(
        default=None,
        pattern=MIRROR_PATTERN,
        description="OCI registry every chart is fetched from (a cluster's own `mirror` wins), e.g. "
        "oci://registry.site.local/charts.",
    )
    teams: TeamsSettings = Field(
        default_factory=TeamsSettings,
        description="Ceilings of the team files (teams/<team>.yaml) in this environment (docs/teams.md).",
    )


@dataclass(frozen=True)
class ClusterEntry:
    """A validated cluster and where it was declared (for errors that point back at the file)."""

    spec: ClusterSpec
    file: str
    field: str
    #: Pack variables team files set on this cluster: '<pack>.<variable>' -> (value, team file, field path).
    team_variables: Mapping[str, tuple[Any, str, str]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    name: str
    file: str
    settings: EnvironmentSettings
    clusters: tuple[ClusterEntry, ...]
    #: The folder the environment was read from: where ``strata:reconcile`` finds its management environment.
    config_dir: Path | None = None
    #: The folders of team files (teams/<team>.yaml) that may target this environment, checked together: a
    #: team-run stack's own folder beside the platform's shared one.
    teams_dirs: tuple[Path, ...] = ()

    def cluster(self, name: str) -> ClusterEntry:
        for entry in self.clusters:
            if entry.spec.name == name:
                return entry
        raise KeyError(name)

    def select(self, name: str) -> ClusterEntry:
        """The cluster ``--cluster NAME`` names, or the error a user sees: a mistyped site name in a fleet of
        hundreds is found by its closest names, not by reading the whole inventory."""
        try:
            return self.cluster(name)
        except KeyError:
            names = [e.spec.name for e in self.clusters]
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            message = f"no cluster {name!r} in environment {self.name} ({shown})" + did_you_mean(name, names)
            raise PlanErrors([PlanError(self.file, "", message)]) from None

    def protect(self, spec: ClusterSpec) -> bool:
        return self.settings.production if spec.protect is None else spec.protect

    def tags(self, spec: ClusterSpec) -> dict[str, str]:
        return {
            "strata-environment": self.name,
            "strata-cluster": spec.name,
            **self.settings.tags,
            **spec.labels,
        }


def available(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in config_dir.glob("Pulumi.*.yaml"))


#: The folder holding strata's own ``stacks/`` and ``packs/``: shipped files are shown relative to it.
PROJECT_ROOT = CONFIG_DIR.parent.parent


#: One teams folder, or several checked together (``None``: :func:`teams_dir_for` the config folder).
TeamsDirs = Path | Sequence[Path] | None


def teams_dir_for(config_dir: Path) -> Path:
    """Where the team files of environments in ``config_dir`` live, unless ``--teams-dir`` says otherwise.

    ``STRATA_TEAMS_DIR`` first (read by ``strata`` and by the program alike, so a plan and ``pulumi up`` see the
    same teams); then the ``teams/`` folder beside the config folder (``stacks/teams`` for strata's own
    ``stacks/config``, in the source tree and inside the wheel alike: one rule, no special case).
    """
    named = os.environ.get("STRATA_TEAMS_DIR")
    if named:
        return Path(named)
    return config_dir.parent / "teams"


def display_path(path: Path) -> str:
    """A path as the user gave it; strata's own files relative to the project (``stacks/config/...``).

    An absolute path outside the project stays absolute: shown relative to some parent it would name a
    file that does not exist from where the user stands.
    """
    if path.is_absolute():
        try:
            return str(path.relative_to(PROJECT_ROOT))
        except ValueError:
            return str(path)
    return str(path)


def strata_config(raw: Any, display: str, secret_keys: Iterable[str] = ()) -> dict[str, Any]:
    """The ``strata:*`` keys of a Pulumi stack config document, with unknown ``strata:`` keys rejected.

    Keys strata would read but written without the ``strata:`` namespace (``clusters:``) are reported with
    the fix: Pulumi hands a program only namespaced keys, so they would be ignored by ``pulumi up``. Secret
    values (``secure:`` in the file, ``secret_keys`` in a running stack) are not settings but what
    ``{config: ...}`` references read (``pulumi config set --secret edgeKey`` writes ``strata:edgeKey``).
    """
    secrets = set(secret_keys)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PlanErrors([PlanError(display, "", "a stack config file must be a mapping with a 'config' key")])
    if "config" not in raw:
        stray = [str(k) for k in raw if str(k).partition(":")[2] in KNOWN_KEYS or str(k) in KNOWN_KEYS]
        if stray:
            raise PlanErrors(
                [
                    PlanError(
                        display,
                        stray[0],
                        "strata reads its keys under 'config:', as Pulumi does; indent them under a "
                        "top-level 'config:' key",
                    )
                ]
            )
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise PlanErrors([PlanError(display, "config", "must be a mapping")])
    out: dict[str, Any] = {}
    errors = []
    for key, value in config.items():
        ns, sep, short = str(key).partition(":")
        if not sep:
            if ns in KNOWN_KEYS:
                errors.append(
                    PlanError(
                        display,
                        f"config.{key}",
                        f"strata's keys carry the 'strata:' prefix; write strata:{key} (Pulumi would not pass "
                        f"{key} to the program)",
                    )
                )
            continue
        if ns != NAMESPACE:
            hint = did_you_mean(ns, [NAMESPACE]) if short in KNOWN_KEYS else ""
            if hint:
                errors.append(PlanError(display, f"config.{key}", f"unknown namespace {ns!r}{hint}"))
            continue
        if short not in KNOWN_KEYS and (str(key) in secrets or (isinstance(value, dict) and "secure" in value)):
            continue
        if short not in KNOWN_KEYS:
            errors.append(
                PlanError(
                    display,
                    f"config.{key}",
                    f"unknown key; strata reads {', '.join(f'strata:{k}' for k in KNOWN_KEYS)}"
                    + did_you_mean(short, KNOWN_KEYS),
                )
            )
            continue
        out[short] = value
    if errors:
        raise PlanErrors(errors)
    return out


def load_environment(
    name: str, config_dir: Path = CONFIG_DIR, root: Path | None = None, teams_dir: TeamsDirs = None
) -> Environment:
    """Read and validate one environment; raise :class:`PlanErrors` with every problem found.

    Team files are not read here: they are checked with the plans (stacks/teams.py), from ``teams_dir``
    (default :func:`teams_dir_for`)."""
    path = config_dir / f"Pulumi.{name}.yaml"
    display = display_path(path)
    if not path.is_file():
        raise PlanErrors([_no_environment(name, config_dir, display)])
    raw = strata_config(load_yaml(path, display), display)
    return environment_from_config(name, raw, display, config_dir, root, teams_dir)


def _no_environment(name: str, config_dir: Path, display: str) -> PlanError:
    """Why there is no such environment, and what to do: a typo, or a folder that holds no environments."""
    folder = display_path(config_dir)
    if not config_dir.is_dir():
        return PlanError(
            display,
            "",
            f"no environment {name!r}: the config folder {folder} does not exist (--config-dir or "
            "STRATA_CONFIG_DIR names the folder of your Pulumi.<env>.yaml files)",
        )
    known = available(config_dir)
    if not known:
        return PlanError(
            display,
            "",
            f"no environment {name!r}: {folder} holds no Pulumi.<env>.yaml files; point --config-dir (or "
            "STRATA_CONFIG_DIR) at the folder that does (stackConfigDir in Pulumi.yaml)",
        )
    return PlanError(display, "", f"no environment {name!r} (known: {', '.join(known)})" + did_you_mean(name, known))


def environment_from_config(
    name: str,
    config: Mapping[str, Any],
    display: str,
    config_dir: Path = CONFIG_DIR,
    root: Path | None = None,
    teams_dir: TeamsDirs = None,
) -> Environment:
    """Build an environment from ``strata:`` config values (file contents or ``pulumi.Config``).

    ``root`` is accepted for compatibility and unused: paths are shown as given (see :func:`display_path`).
    """
    del root
    try:
        settings = EnvironmentSettings.model_validate(dict(config))
    except ValidationError as exc:
        raise PlanErrors(_config_errors(from_validation(exc, display, model=EnvironmentSettings))) from None

    errors: list[PlanError] = []
    entries: list[ClusterEntry] = []
    for i, raw in enumerate(settings.clusters):
        field = f'config."strata:clusters"[{i}]'
        entries.extend(_validate_cluster(raw, display, field, errors))
    if settings.inventory is not None:
        entries.extend(_inventory(settings.inventory, display, config_dir, errors))

    seen: dict[str, ClusterEntry] = {}
    for entry in entries:
        first = seen.get(entry.spec.name)
        if first is not None:
            errors.append(
                PlanError(
                    entry.file,
                    f"{entry.field}.name",
                    f"cluster name {entry.spec.name!r} is already used at {first.file}: {first.field}",
                )
            )
        else:
            seen[entry.spec.name] = entry
    errors.extend(_rename_conflicts(entries))
    if not entries and not errors:
        errors.append(PlanError(display, "config", "the environment declares no clusters"))
    if errors:
        raise PlanErrors(errors)
    if teams_dir is None:
        teams: tuple[Path, ...] = (teams_dir_for(config_dir),)
    else:
        teams = (teams_dir,) if isinstance(teams_dir, Path) else tuple(teams_dir)
    return Environment(name, display, settings, tuple(entries), config_dir, teams)


def _rename_conflicts(entries: Iterable[ClusterEntry]) -> list[PlanError]:
    """A former name must belong to one cluster only: two claims on one deployed cluster cannot both hold."""
    errors: list[PlanError] = []
    claimed: dict[str, ClusterEntry] = {}
    entries = list(entries)
    for entry in entries:
        claimed.setdefault(entry.spec.name, entry)
    for entry in entries:
        for j, old in enumerate(entry.spec.renamed_from):
            other = claimed.setdefault(old, entry)
            if other is not entry:
                errors.append(
                    PlanError(
                        entry.file,
                        f"{entry.field}.renamed_from[{j}]",
                        f"{old!r} is also claimed by cluster {other.spec.name} at {other.file}: {other.field}; "
                        "a deployed cluster can be renamed into one cluster only",
                        entry.spec.name,
                    )
                )
    return errors


def _config_errors(errors: Iterable[PlanError]) -> list[PlanError]:
    """``clusters[0].x`` -> ``config."strata:clusters"[0].x``: the path as written in the file."""
    out = []
    for e in errors:
        head, dot, rest = e.path.partition(".")
        head_name, bracket, index = head.partition("[")
        path = f'config."strata:{head_name}"' + (f"[{index}" if bracket else "") + (f".{rest}" if dot else "")
        out.append(PlanError(e.file, path, e.message, e.cluster))
    return out


def _validate_cluster(raw: Any, file: str, field: str, errors: list[PlanError]) -> list[ClusterEntry]:
    try:
        spec = _CLUSTER.validate_python(raw)
    except ValidationError as exc:
        cluster = raw.get("name") if isinstance(raw, dict) else None
        name = cluster if isinstance(cluster, str) else None
        target = raw.get("target") if isinstance(raw, dict) else None
        model = _SPECS.get(target) if isinstance(target, str) else None
        errors.extend(from_validation(exc, file, field, name, union_tags=[t.value for t in Target], model=model))
        return []
    return [ClusterEntry(spec, file, field)]


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


_BOOLS = {"true": True, "false": False}
_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$")


def _scalar(text: str) -> Any:
    """A CSV cell as YAML would read it (``3`` -> 3, ``true`` -> True, ``[a, b]`` -> a list), so typed
    variables work from CSV. Plain numbers and words skip the YAML parser: a fleet has many thousands."""
    if text == "":
        return None
    if text.lower() in _BOOLS:
        return _BOOLS[text.lower()]
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text[0] in "[{\"'":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return text


def _csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """A flat CSV row to cluster fields.

    ``name``, ``region``, ``site`` ... map to fields; ``labels.<k>``, ``facts.<k>`` and ``variables.<pack>.<var>``
    to map entries; ``address`` (with optional ``user``, ``port``, ``host_key``) becomes the single host of an
    edge site.
    """
    out: dict[str, Any] = {}
    host: dict[str, Any] = {}
    for column, cell in row.items():
        if cell == "":
            continue
        if column in _HOST_COLUMNS:
            host[column] = _scalar(cell) if column == "port" else cell
            continue
        head, dot, rest = column.partition(".")
        if dot:
            value = cell if head == "labels" else _scalar(cell)
            out.setdefault(head, {})[rest] = value
        else:
            out[head] = cell
    if host:
        host.setdefault("name", out.get("name", "node"))
        out["hosts"] = [host]
    return out


#: CSV columns that are not cluster fields: the single host of an edge site.
_HOST_COLUMNS = ("address", "user", "port", "host_key")


def _unknown_column(column: str) -> str | None:
    """Why a header column can be no cluster field of any target, or None. A misspelt column is one mistake,
    found once in the header, not once per row of a fleet's inventory."""
    fields = {f.alias or n: f for spec in _SPECS.values() for n, f in spec.model_fields.items()}
    head, dot, _ = column.partition(".")
    if not dot and (head in fields or head in _HOST_COLUMNS):
        return None
    if dot and head in fields and _is_mapping(fields[head].annotation):
        return None
    known = [*fields, *_HOST_COLUMNS]
    if dot:
        maps = [name for name, f in fields.items() if _is_mapping(f.annotation)]
        return f"unknown column: {head!r} is no map of a cluster; dotted columns fill one of " + ", ".join(
            f"{m}.<key>" for m in sorted(maps)
        ) + did_you_mean(head, maps)
    return (
        "unknown column: no cluster field is called that (columns are cluster fields, "
        f"{', '.join(_HOST_COLUMNS)} for the site's host, and labels.<key>, facts.<key>, variables.<pack>.<var>)"
        + did_you_mean(head, known)
    )


def _is_mapping(annotation: Any) -> bool:
    """``dict[...]`` (possibly optional or annotated): a field a dotted column can fill key by key."""
    origin = getattr(annotation, "__origin__", None)
    if origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
        return True
    return any(_is_mapping(arg) for arg in get_args(annotation))


def _csv_rows(path: Path, display: str, errors: list[PlanError]) -> list[tuple[str, dict[str, Any]]]:
    """The rows of a CSV inventory, each with the line it starts on.

    A row with fewer or more values than the header has columns is an error, never a guess: silently
    padding it would shift every later value into the wrong field (a site named after its address), and
    dropping the extra values would lose a label. Both name the file, line and column.
    """
    rows: list[tuple[str, dict[str, Any]]] = []
    data = path.read_bytes()
    try:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark, which would otherwise glue itself
        # to the first column's name (an invisible character in every row's error).
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        errors.append(
            PlanError(display, f"line {line}", "is not UTF-8 text; save the inventory as UTF-8 (\"CSV UTF-8\")")
        )
        return []
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            errors.append(PlanError(display, "line 1", "the inventory is empty; line 1 is the header (name,...)"))
            return []
        columns = [c.strip() for c in header]
        bad = False
        for i, column in enumerate(columns, start=1):
            if not column:
                errors.append(PlanError(display, f"line 1, column {i}", "empty column name in the header"))
                bad = True
            elif columns.index(column) != i - 1:
                errors.append(
                    PlanError(
                        display,
                        f"line 1, column {i}",
                        f"column {column!r} is already column {columns.index(column) + 1}; remove one of them",
                    )
                )
                bad = True
            elif (problem := _unknown_column(column)) is not None:
                errors.append(PlanError(display, f"line 1, column {i} ({column})", problem))
                bad = True
        if bad:
            return []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # blank lines separate groups of sites; they are no row
            where = f"line {line}"
            if len(cells) < len(columns):
                missing = columns[len(cells)]
                errors.append(
                    PlanError(
                        display,
                        f"{where}, column {len(cells) + 1} ({missing})",
                        f"the row ends after {len(cells)} values but the header has {len(columns)} columns "
                        f"({', '.join(columns)}): a value is missing here or earlier, and every value after a "
                        "missing one is in the wrong column. Keep the comma of an empty value (a,,c)",
                    )
                )
                continue
            if len(cells) > len(columns):
                extra = ", ".join(repr(c) for c in cells[len(columns) :])
                errors.append(
                    PlanError(
                        display,
                        f"{where}, column {len(columns) + 1}",
                        f"the row has {len(cells)} values but the header has {len(columns)} columns: {extra} "
                        "has no column. Add a column to the header, or quote a value that contains a comma",
                    )
                )
                continue
            rows.append((where, _csv_row(dict(zip(columns, cells, strict=True)))))
    return rows


def _inventory(inventory: Inventory, env_file: str, config_dir: Path, errors: list[PlanError]) -> list[ClusterEntry]:
    path = config_dir / inventory.file
    display = display_path(path)
    if not path.is_file():
        errors.append(
            PlanError(
                env_file,
                'config."strata:inventory".file',
                f"{display} does not exist; the path is relative to the config folder {display_path(config_dir)}",
            )
        )
        return []
    rows: list[tuple[str, dict[str, Any]]] = []
    if path.suffix == ".csv":
        rows = _csv_rows(path, display, errors)
    else:
        try:
            data = load_yaml(path, display)
        except PlanErrors as exc:
            errors.extend(exc.errors)
            return []
        if not isinstance(data, list):
            errors.append(PlanError(display, "", "a YAML inventory is a list of clusters"))
            return []
        rows = [(f"[{i}]", item if isinstance(item, dict) else {"_": item}) for i, item in enumerate(data)]
    entries: list[ClusterEntry] = []
    unset: dict[tuple[str, str], list[PlanError]] = defaultdict(list)  # errors of values no one gave
    for where, row in rows:
        found: list[PlanError] = []
        entries.extend(_validate_cluster(_deep_merge(inventory.defaults, row), display, where, found))
        for error in found:
            rest = error.path.removeprefix(where).removeprefix(".")
            origin = _origin(rest, inventory.defaults, row)
            if origin == "defaults":
                # Every row repeats a mistake in the defaults: it is one mistake, in the environment file.
                errors.append(PlanError(env_file, f"{_DEFAULTS}.{rest}", error.message))
            elif origin == "row":
                errors.append(_host_column(error, where) if path.suffix == ".csv" else error)
            else:
                unset[(rest, error.message)].append(error)
    for (rest, message), found in unset.items():
        if len(found) == len(rows) > 1:  # no row sets it: the defaults are where it belongs
            errors.append(
                PlanError(env_file, f"{_DEFAULTS}.{rest}", f"{message}; no row of {display} sets it either")
            )
        else:
            errors.extend(found)
    return entries


_DEFAULTS = 'config."strata:inventory".defaults'


def _host_column(error: PlanError, where: str) -> PlanError:
    """A CSV row's host is its own columns (address, user, port, host_key): point at the column the user wrote,
    not at ``hosts[0]``, which the inventory does not have."""
    head, _, column = error.path.removeprefix(where).removeprefix(".").partition(".")
    if head == "hosts[0]" and column in _HOST_COLUMNS:
        return dataclasses.replace(error, path=f"{where}.{column}")
    return error


def _origin(rest: str, defaults: Mapping[str, Any], row: Mapping[str, Any]) -> str | None:
    """Which of ``defaults`` or ``row`` set the value at the error path ``rest`` (``kubernetes_version``,
    ``labels.tier``, ``variables.external-dns.domain``, ``hosts[0].address``); None when neither did (a missing
    field). A row's value wins over the defaults', so the row is looked at first, one map level deep."""
    for source, name in ((row, "row"), (defaults, "defaults")):
        for key, value in source.items():
            if rest != key and not rest.startswith((f"{key}.", f"{key}[")):
                continue
            inner = rest[len(key) :].removeprefix(".")
            other = defaults if name == "row" else row
            if inner and isinstance(value, Mapping) and isinstance(other.get(key), Mapping):
                # A map both give (labels, variables): the entry decides, not the map.
                if any(inner == k or inner.startswith((f"{k}.", f"{k}[")) for k in value):
                    return name
                continue
            return name
    return None
