"""The floor under a Pulumi program's cost: the same registrations replayed with no program logic.

A program's wall time under Pulumi's mocks is the SDK's own work (serialising inputs, awaiting dependencies,
one ``RegisterResource`` per resource) plus whatever the program adds on top (parsing, validation, Output
chains). Only the second part is the program's to cut, so it is measured against a replay:

1. :class:`RecordingMonitor` sits where the engine would be and keeps every ``RegisterResource`` and
   ``RegisterResourceOutputs`` request exactly as it went on the wire;
2. :func:`replay` registers the very same resources in a fresh interpreter with plain
   ``pulumi.CustomResource`` / ``ProviderResource`` / ``ComponentResource`` objects: same type, name, inputs
   (secrets still secret), parent, provider, dependencies per property, resource options and outputs, in the
   order the engine saw them -- and no program logic at all;
3. :func:`differences` compares the two recordings field by field, so a replay that is not the same graph
   fails loudly instead of producing a flattering ratio.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import pulumi
from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import alias_pb2, resource_pb2

SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE = "5cf8f73096256a8f31e491e813e4eb8e"
PROVIDER_TYPE = "pulumi:providers:"
#: Request fields the replay sets from the recording. Any other field set on a recorded request would be an
#: option the replay silently drops, so :func:`load` refuses it.
HANDLED = frozenset(
    {
        "type",
        "name",
        "parent",
        "custom",
        "remote",
        "providers",
        "object",
        "protect",
        "provider",
        "dependencies",
        "propertyDependencies",
        "deleteBeforeReplace",
        "deleteBeforeReplaceDefined",
        "ignoreChanges",
        "version",
        "pluginDownloadURL",
        "acceptSecrets",
        "acceptResources",
        "additionalSecretOutputs",
        "importId",
        "customTimeouts",
        "aliases",
        "supportsPartialValues",
        "replaceOnChanges",
        "retainOnDelete",
        "deletedWith",
        "sourcePosition",
        "stackTrace",
        "supportsResultReporting",
    }
)
#: Where the request was made from: necessarily different between the program and its replay.
PROVENANCE = ("sourcePosition", "stackTrace")


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping each request's wire bytes (cheap, and the same cost in program and replay)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[tuple[str, bytes]] = []

    def RegisterResource(self, request: resource_pb2.RegisterResourceRequest) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            self.records.append(("register", request.SerializeToString()))
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]  # the SDK's monitor is untyped

    def RegisterResourceOutputs(self, request: resource_pb2.RegisterResourceOutputsRequest) -> Any:
        self.records.append(("outputs", request.SerializeToString()))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]  # the SDK's monitor is untyped


@dataclass(frozen=True)
class Recording:
    """Everything a stack registered, in order, plus its stack outputs (resolved, with their secrecy)."""

    records: list[tuple[str, bytes]]
    exports: dict[str, Any]
    #: Per URN, the properties the resource's class declares but the program left unset (outputs such as
    #: ``stdout`` or ``status``). They never reach the wire, but the SDK gives each one an Output on the
    #: resource object, whatever the program does: the replay declares them too, so that this SDK cost is
    #: in the floor and not counted as the program's.
    unset: dict[str, list[str]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def read(path: Path) -> Recording:
        loaded = pickle.loads(path.read_bytes())
        assert isinstance(loaded, Recording)
        return loaded


class UnsetProperties:
    """Notes, while a program runs, the properties each resource declares without a value (see ``Recording``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[pulumi.Resource, list[str]]] = []
        self._transfer = rpc.transfer_properties

    def __enter__(self) -> UnsetProperties:
        def transfer(res: pulumi.Resource, props: Any, custom: bool) -> Any:
            self.seen.append((res, [k for k, v in props.items() if v is None and k not in ("id", "urn")]))
            return self._transfer(res, props, custom)

        rpc.transfer_properties = transfer
        return self

    def __exit__(self, *exc: object) -> None:
        rpc.transfer_properties = self._transfer

    async def by_urn(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for res, names in self.seen:
            if names:
                urn = await res.urn.future()
                assert urn is not None, "the mock monitor gives every resource its URN"
                out[urn] = names
        return out


@dataclass(frozen=True)
class Resolved:
    """An exported Output, resolved: its value and whether it was secret."""

    value: Any
    secret: bool


async def _capture(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return Resolved(await value.future(), await value.is_secret())
    if isinstance(value, Mapping):
        return {k: await _capture(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _capture(v) for v in value]
    return value


async def resolved_exports() -> dict[str, Any]:
    """The root stack's exports, each Output in them resolved (keeping its secrecy) where the program had one."""
    root = pulumi.runtime.get_root_resource()
    return {key: await _capture(value) for key, value in (getattr(root, "outputs", None) or {}).items()}


def _registration(blob: bytes) -> resource_pb2.RegisterResourceRequest:
    request = resource_pb2.RegisterResourceRequest()
    request.ParseFromString(blob)
    return request


def _output_registration(blob: bytes) -> resource_pb2.RegisterResourceOutputsRequest:
    request = resource_pb2.RegisterResourceOutputsRequest()
    request.ParseFromString(blob)
    return request


@dataclass(frozen=True)
class _Secret:
    value: Any


@dataclass(frozen=True)
class _Ref:
    urn: str


def _decode(data: Any) -> Any:
    """Wire data as plain Python, secrets and resource references marked (done before the clock starts)."""
    if isinstance(data, list):
        return [_decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    sig = data.get(SIG)
    if sig == SECRET:
        return _Secret(_decode(data["value"]))
    if sig == RESOURCE:
        return _Ref(data["urn"])
    if sig is not None:
        raise ValueError(f"replay cannot reproduce a value of kind {sig}")
    return {k: _decode(v) for k, v in data.items()}


@dataclass(frozen=True)
class Step:
    """One recorded request, decoded: a resource to register, or a component's outputs."""

    kind: str
    request: Any
    values: dict[str, Any]


def _meaningful(value: Any) -> bool:
    """A field that changes what the engine does (an empty message, such as no hooks, does not)."""
    return not (hasattr(value, "ByteSize") and value.ByteSize() == 0)


def load(recording: Recording) -> list[Step]:
    """The recorded requests, decoded; refuses any request option the replay would not reproduce."""
    steps: list[Step] = []
    for kind, blob in recording.records:
        if kind == "register":
            request = _registration(blob)
            unhandled = sorted(
                f.name for f, value in request.ListFields() if f.name not in HANDLED and _meaningful(value)
            )
            if unhandled:
                raise ValueError(f"{request.type} {request.name}: replay does not reproduce {unhandled}")
            steps.append(Step(kind, request, _decode(json_format.MessageToDict(request.object))))
        else:
            outputs = _output_registration(blob)
            steps.append(Step(kind, outputs, _decode(json_format.MessageToDict(outputs.outputs))))
    return steps


def _ready(value: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    future.set_result(value)
    return future


def _known(value: Any, secret: bool, resources: set[pulumi.Resource] | None = None) -> pulumi.Output[Any]:
    """The cheapest Output the SDK has for a known value (``Output.secret`` would wrap every nested item)."""
    return pulumi.Output(resources or set(), _ready(value), _ready(True), _ready(secret))


def _rebuild(captured: Any) -> Any:
    """An export as the floor would write it: each Output a known value, secret where the program's was."""
    if isinstance(captured, Resolved):
        return _known(captured.value, secret=True) if captured.secret else captured.value
    if isinstance(captured, dict):
        return {k: _rebuild(v) for k, v in captured.items()}
    if isinstance(captured, list):
        return [_rebuild(v) for v in captured]
    return captured


class _AliasArgs(TypedDict, total=False):
    name: str
    type_: str
    stack: str
    project: str
    parent: str | None


class _Replayer:
    def __init__(self, unset: Mapping[str, list[str]]) -> None:
        self.by_urn: dict[str, pulumi.Resource] = {}
        self.unset = unset

    def value(self, data: Any) -> Any:
        """Decoded data as inputs: a secret becomes a secret Output, a resource reference the replayed resource."""
        if isinstance(data, _Secret):
            return _known(self.value(data.value), secret=True)
        if isinstance(data, _Ref):
            return self.by_urn[data.urn]
        if isinstance(data, list):
            return [self.value(v) for v in data]
        if isinstance(data, dict):
            return {k: self.value(v) for k, v in data.items()}
        return data

    def inputs(self, step: Step) -> dict[str, Any]:
        """The inputs, each property carrying the dependencies the engine saw for it."""
        request = step.request
        props = {k: self.value(v) for k, v in step.values.items()}
        props |= {k: None for k in self.unset.get(_urn(request), ()) if k not in props}
        for key, deps in request.propertyDependencies.items():
            if not deps.urns:  # the SDK lists every property, most with no dependency: those stay plain values
                continue
            resources = {self.by_urn[urn] for urn in deps.urns}
            value = props.get(key)
            if isinstance(value, pulumi.Output):
                props[key] = pulumi.Output(resources, value.future(), value.is_known(), value.is_secret())
            else:
                # Not Output.from_input: that would wrap every nested item in an Output of its own.
                props[key] = _known(value, secret=False, resources=resources)
        return props

    def options(self, request: resource_pb2.RegisterResourceRequest) -> pulumi.ResourceOptions:
        timeouts = request.customTimeouts
        return pulumi.ResourceOptions(
            parent=self.by_urn.get(request.parent),
            provider=self._provider(request.provider) if request.provider else None,
            # The SDK puts a component's own ``provider`` into this map too; passing it twice draws a warning.
            providers={
                pkg: self._provider(ref) for pkg, ref in request.providers.items() if ref and ref != request.provider
            }
            or None,
            # Only what no property already brings: the SDK adds property dependencies to this list itself.
            depends_on=[self.by_urn[urn] for urn in sorted(set(request.dependencies) - _property_deps(request))],
            protect=request.protect if request.HasField("protect") else None,
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            ignore_changes=list(request.ignoreChanges) or None,
            version=request.version or None,
            plugin_download_url=request.pluginDownloadURL or None,
            additional_secret_outputs=list(request.additionalSecretOutputs) or None,
            import_=request.importId or None,
            custom_timeouts=pulumi.CustomTimeouts(
                create=timeouts.create or None, update=timeouts.update or None, delete=timeouts.delete or None
            )
            if request.HasField("customTimeouts")
            else None,
            aliases=[self._alias(a) for a in request.aliases] or None,
            replace_on_changes=list(request.replaceOnChanges) or None,
            retain_on_delete=request.retainOnDelete if request.HasField("retainOnDelete") else None,
            deleted_with=self.by_urn[request.deletedWith] if request.deletedWith else None,
        )

    def _provider(self, ref: str) -> pulumi.ProviderResource:
        provider = self.by_urn[ref.rsplit("::", 1)[0]]  # a provider reference is "<urn>::<id>"
        assert isinstance(provider, pulumi.ProviderResource)
        return provider

    def _alias(self, alias: alias_pb2.Alias) -> pulumi.Alias | str:
        if alias.HasField("urn") and alias.urn:
            return alias.urn
        spec = alias.spec
        # A field left out of ``pulumi.Alias`` means "the resource's own" (its default is ``...``), and
        # ``parent=None`` means "no parent": only the fields the wire spec sets are passed.
        args: _AliasArgs = {}
        if spec.name:
            args["name"] = spec.name
        if spec.type:
            args["type_"] = spec.type
        if spec.stack:
            args["stack"] = spec.stack
        if spec.project:
            args["project"] = spec.project
        if spec.noParent:
            args["parent"] = None
        elif spec.parentUrn:
            args["parent"] = spec.parentUrn
        return pulumi.Alias(**args)

    def register(self, step: Step) -> None:
        request = step.request
        inputs, opts = self.inputs(step), self.options(request)
        resource: pulumi.Resource
        if request.type.startswith(PROVIDER_TYPE):
            resource = pulumi.ProviderResource(request.type[len(PROVIDER_TYPE) :], request.name, inputs, opts)
        elif request.custom:
            resource = pulumi.CustomResource(request.type, request.name, inputs, opts)
        else:
            resource = pulumi.ComponentResource(request.type, request.name, inputs, opts, remote=request.remote)
        urn = _urn(request)
        self.by_urn[urn] = resource

    def register_outputs(self, step: Step) -> None:
        outputs = {k: self.value(v) for k, v in step.values.items()}
        resource = self.by_urn[step.request.urn]
        assert isinstance(resource, pulumi.ComponentResource)
        resource.register_outputs(outputs)


def _property_deps(request: resource_pb2.RegisterResourceRequest) -> set[str]:
    return {urn for deps in request.propertyDependencies.values() for urn in deps.urns}


def _urn(request: resource_pb2.RegisterResourceRequest) -> str:
    """The URN the engine gives the request (the mock monitor's scheme, which is the engine's)."""
    kind = request.type
    if request.parent:
        kind = request.parent.split("::")[2].split("$")[-1] + "$" + kind
    return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), kind, request.name])


def replay(recording: Recording, steps: Sequence[Step]) -> int:
    """Register the recorded resources and outputs, in recorded order; returns the number of resources."""
    replayer = _Replayer(recording.unset)
    count = 0
    for step in steps:
        if step.kind == "register":
            replayer.register(step)
            count += 1
        elif "::pulumi:pulumi:Stack::" not in step.request.urn:  # the root stack is set up by the mocks
            replayer.register_outputs(step)
    for key, value in recording.exports.items():
        pulumi.export(key, _rebuild(value))
    return count


def _comparable(kind: str, request: Any) -> dict[str, Any]:
    data = json_format.MessageToDict(request, preserving_proto_field_name=False)
    for name in PROVENANCE:
        data.pop(name, None)
    if "dependencies" in data:
        data["dependencies"] = sorted(data["dependencies"])
    for deps in (data.get("propertyDependencies") or {}).values():
        deps["urns"] = sorted(deps.get("urns", []))
    return {"kind": kind, **data}


def differences(program: Iterable[tuple[str, bytes]], replayed: Iterable[tuple[str, bytes]]) -> list[str]:
    """Where two recordings differ, as readable lines (empty: the same graph, request by request)."""

    def keyed(records: Iterable[tuple[str, bytes]]) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, blob in records:
            request: resource_pb2.RegisterResourceRequest | resource_pb2.RegisterResourceOutputsRequest
            if kind == "register":
                request = _registration(blob)
                key = (kind, _urn(request))
            else:
                request = _output_registration(blob)
                key = (kind, request.urn)
            assert key not in out, f"{key} recorded twice"
            out[key] = _comparable(kind, request)
        return out

    left, right = keyed(program), keyed(replayed)
    problems = [f"only in the program: {k}" for k in sorted(left.keys() - right.keys())]
    problems += [f"only in the replay: {k}" for k in sorted(right.keys() - left.keys())]
    for key in sorted(left.keys() & right.keys()):
        a, b = left[key], right[key]
        for name in sorted(a.keys() | b.keys()):
            if a.get(name) != b.get(name):
                problems.append(f"{key} {name}: program {a.get(name)!r} != replay {b.get(name)!r}")
    return problems
