"""Pulumi's own mocks, recording the whole resource graph so tests can assert on it.

``pulumi.runtime.Mocks.new_resource`` does not see parents, dependencies or ``protect``; the recording
monitor below captures them from the engine request itself, so tests can check the graph the real
engine would receive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def mock_password(name: str) -> str:
    """The value the mocks give the RandomPassword ``name``."""
    return f"generated-{name}-Zq7xW2"


@dataclass
class Registration:
    typ: str
    name: str
    urn: str
    inputs: dict[str, Any]
    custom: bool
    provider: str
    parent: str
    dependencies: list[str]
    protect: bool
    resource_id: str = ""
    ignore_changes: list[str] = field(default_factory=list)
    deleted_with: str = ""
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    #: Aliases as the engine receives them: a full URN, or a spec dict (name, type, parentUrn, noParent ...).
    aliases: list[str | dict[str, Any]] = field(default_factory=list)
    transforms: int = 0


class GraphMocks(pulumi.runtime.Mocks):
    """Records every registration; ``state_for`` adds cloud-computed outputs by resource type."""

    def __init__(
        self,
        state_for: dict[str, Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]] | None = None,
        calls: dict[str, Callable[[pulumi.runtime.MockCallArgs], dict[str, Any]]] | None = None,
    ) -> None:
        self.state_for = dict(state_for or {})
        self.calls = dict(calls or {})
        self.resources: list[Registration] = []
        self.call_log: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == RANDOM_PASSWORD:
            # What the provider computes: a value derived from the name, so tests can look for leaks of it.
            state["result"] = mock_password(args.name)
        if args.typ == "pulumi:pulumi:StackReference":
            # A stack that has not been deployed yet: no outputs (``state_for`` gives it some).
            state.update({"outputs": {}, "secretOutputNames": []})
        extra = self.state_for.get(args.typ)
        if extra is not None:
            state.update(extra(args))
        return (f"{args.name}-id" if args.custom else ""), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.call_log.append((args.token, dict(args.args)))
        handler = self.calls.get(args.token)
        # The result and no check failures (the SDK iterates the failures of a tuple: never None).
        return (handler(args) if handler else {}), []

    # ------------------------------------------------------------------ queries for assertions
    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str, typ: str | None = None) -> Registration:
        """The one resource with this name; strata's own components yield to the resource they wrap."""
        found = [r for r in self.resources if r.name == name and (typ is None or r.typ == typ)]
        if typ is None and len(found) > 1:
            found = [r for r in found if not r.typ.startswith("strata:")]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}


def _alias(alias: Any) -> str | dict[str, Any]:
    if alias.WhichOneof("alias") == "urn":
        return str(alias.urn)
    spec = alias.spec
    out: dict[str, Any] = {k: getattr(spec, k) for k in ("name", "type", "stack", "project") if getattr(spec, k)}
    if spec.WhichOneof("parent") == "parentUrn":
        out["parentUrn"] = spec.parentUrn
    elif spec.WhichOneof("parent") == "noParent":
        out["noParent"] = spec.noParent
    return out


class RecordingMonitor(MockMonitor):
    mocks: GraphMocks

    def __init__(self, mocks: GraphMocks) -> None:
        super().__init__(mocks)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # the SDK's monitor is untyped
        if request.type != "pulumi:pulumi:Stack":
            self.mocks.resources.append(
                Registration(
                    typ=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=dict(pulumi.runtime.rpc.deserialize_properties(request.object)),
                    custom=request.custom,
                    provider=request.provider,
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    protect=request.protect,
                    resource_id=response.id,
                    ignore_changes=list(request.ignoreChanges),
                    deleted_with=request.deletedWith,
                    delete_before_replace=request.deleteBeforeReplace,
                    retain_on_delete=request.retainOnDelete,
                    aliases=[_alias(a) for a in request.aliases],
                    transforms=len(request.transforms),
                )
            )
        return response


def install(mocks: GraphMocks, stack: str = "test", project: str = "strata", preview: bool = False) -> None:
    """Fresh event loop and mocks for one test: a program never leaks state into the next."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=RecordingMonitor(mocks))


def settle() -> None:
    """Let every pending registration reach the monitor before the graph is inspected."""
    loop = asyncio.get_event_loop()

    def _serving(task: asyncio.Task[Any]) -> bool:
        # The callback server a transform needs keeps serving until shut down; it is not a registration.
        code = getattr(task.get_coro(), "cr_code", None)
        return code is not None and "grpc" in code.co_filename

    async def _drain() -> None:
        while True:
            pending = [
                t
                for t in asyncio.all_tasks(loop)
                if t is not asyncio.current_task() and not t.done() and not _serving(t)
            ]
            if not pending:
                break
            await asyncio.gather(*pending, return_exceptions=True)
        from pulumi.runtime._callbacks import _CallbackServicer

        await _CallbackServicer.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    loop.run_until_complete(_drain())


def resolve(output: pulumi.Output[Any]) -> Any:
    """The value of an output under mocks."""
    return asyncio.get_event_loop().run_until_complete(output.future())


def is_secret(output: pulumi.Output[Any]) -> bool:
    return bool(asyncio.get_event_loop().run_until_complete(output.is_secret()))


#: Registrations that are not plain Kubernetes objects (providers, provider-side components).
_NOT_OBJECTS = ("pulumi:providers:", "kubernetes:helm.sh/", "kubernetes:yaml/")


def _object_registrations(mocks: GraphMocks) -> list[Registration]:
    kinds = [r for r in mocks.resources if r.typ.startswith("kubernetes:") and r.custom]
    return [r for r in kinds if not r.typ.startswith(_NOT_OBJECTS)]


def _object(r: Registration) -> dict[str, Any]:
    return {k: v for k, v in r.inputs.items() if v is not None}


def kubernetes_objects(mocks: GraphMocks) -> list[dict[str, Any]]:
    """Every raw Kubernetes object the program registered, as the API server would receive it."""
    return [_object(r) for r in _object_registrations(mocks)]


def cluster_of(r: Registration) -> str:
    """The cluster an object lands on: the name of its Kubernetes provider (``<cluster>-k8s``) without the suffix."""
    return r.provider.split("::")[3].removesuffix("-k8s") if r.provider else ""


def validate_objects(mocks: GraphMocks, kubernetes_version: str | Mapping[str, str]) -> int:
    """Validate every registered object against the upstream OpenAPI schema; returns how many.

    ``kubernetes_version`` is one version for every object, or each cluster's version by name: every object is
    then validated against the version of the cluster whose provider it goes through (an object on a cluster
    the mapping does not know is an error, never a silent pass).
    """
    import kubernetes_validate

    registrations = _object_registrations(mocks)
    flux = [
        r for r in registrations if str(r.inputs.get("apiVersion", "")).split("/")[0].endswith(".toolkit.fluxcd.io")
    ]
    if flux:  # custom resources: checked against the upstream Flux CRDs (skips when they are absent)
        from tests.flux_crds import validator

        validate = validator()
        for r in flux:
            validate(_object(r))
    custom = {id(r) for r in flux}
    for r in registrations:
        if id(r) in custom:
            continue
        if isinstance(kubernetes_version, str):
            version = kubernetes_version
        else:
            cluster = cluster_of(r)
            assert cluster in kubernetes_version, f"{r.name} lands on {cluster!r}, whose version is not given"
            version = kubernetes_version[cluster]
        kubernetes_validate.validate(_object(r), version, strict=True)
    return len(registrations)


# ------------------------------------------------------------------ what the engine does with aliases


def _urn(like: str, parent: str, typ: str, name: str) -> str:
    """A URN in the mock monitor's format (stack and project taken from ``like``)."""
    stack, project = like.split("::")[0].removeprefix("urn:pulumi:"), like.split("::")[1]
    if parent:
        typ = parent.split("::")[2].split("$")[-1] + "$" + typ
    return f"urn:pulumi:{stack}::{project}::{typ}::{name}"


def _type_and_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return parts[2].split("$")[-1], parts[3]


def carried_over(old_urns: set[str], new: GraphMocks) -> dict[str, str | None]:
    """For every resource of ``new``, the URN of the deployed resource the engine would update in its place.

    ``old_urns`` is the state a first program left; ``new`` a second program's registrations. A resource
    matches its own URN, else the first of its aliases found in the state; children of a resource matched
    through an alias also try the aliases they inherit (the engine's ``generateAliases``: same type and
    name under the parent's old URN, with the parent's old name substituted when the child's name starts
    with the parent's). ``None`` means the engine would create the resource (and delete whatever it replaced).
    """
    by_urn = {r.urn: r for r in new.resources}
    moved: dict[str, str] = {}
    out: dict[str, str | None] = {}
    for r in new.resources:
        if r.urn in old_urns:
            out[r.urn] = r.urn
            continue
        own: list[str] = []
        for alias in r.aliases:
            if isinstance(alias, str):
                own.append(alias)
                continue
            parent = r.parent
            if alias.get("noParent"):
                parent = ""
            elif alias.get("parentUrn"):
                parent = moved.get(alias["parentUrn"], alias["parentUrn"])
            own.append(_urn(r.urn, parent, alias.get("type") or r.typ, alias.get("name") or r.name))
        candidates = list(own)
        parent_reg = by_urn.get(r.parent)
        if parent_reg is not None and r.parent in moved:
            old_parent = moved[r.parent]

            def inherited(
                typ: str, name: str, like: str = r.urn, old_parent: str = old_parent, parent_name: str = parent_reg.name
            ) -> str:
                if name.startswith(parent_name):
                    name = _type_and_name(old_parent)[1] + name[len(parent_name) :]
                return _urn(like, old_parent, typ, name)

            candidates.append(inherited(r.typ, r.name))
            candidates.extend(inherited(*_type_and_name(urn)) for urn in own)
        found = next((c for c in candidates if c in old_urns), None)
        if found is not None:
            moved[r.urn] = found
        out[r.urn] = found
    return out
