"""A fake ``pulumi`` executable that speaks the part of the CLI the Automation API SDK uses.

Tests put a ``pulumi`` wrapper that runs this script first on PATH, so the fleet's local engine and the
real SDK code run against it: ``version`` (3.205.0, so the SDK reads engine events from the
``--event-log`` file), ``install``, ``stack ls/init/select/output/history``, ``up``, ``preview``,
``refresh`` (with ``--preview-only``), ``destroy`` and ``plugin install``.

State lives under ``$FAKE_PULUMI_STATE`` (one JSON file per stack, a lock file while an operation runs);
every invocation is appended to ``calls.jsonl`` there. ``scenario.json`` there scripts behaviour per
stack: ``{"<stack>": {"up": "fail" | "unreachable" | "hang", "locked": 2, "perpetual": true,
"live_drift": [urn, ...], "code_drift": [urn, ...], "resources": [urn, ...], "sleep": 0.1}}``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

STATE = Path(os.environ["FAKE_PULUMI_STATE"])
VERSION = os.environ.get("FAKE_PULUMI_VERSION", "v3.205.0")
DT = "%Y-%m-%dT%H:%M:%S.%fZ"


def log(args: list[str], **extra: Any) -> None:
    with (STATE / "calls.jsonl").open("a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "args": args, "cwd": os.getcwd(), "t": time.time(), **extra}) + "\n")


def scenario(stack: str) -> dict[str, Any]:
    path = STATE / "scenario.json"
    return json.loads(path.read_text()).get(stack, {}) if path.is_file() else {}


def stack_file(stack: str) -> Path:
    return STATE / "stacks" / f"{stack}.json"


def load(stack: str) -> dict[str, Any] | None:
    path = stack_file(stack)
    return json.loads(path.read_text()) if path.is_file() else None


def save(stack: str, data: dict[str, Any]) -> None:
    stack_file(stack).parent.mkdir(parents=True, exist_ok=True)
    stack_file(stack).write_text(json.dumps(data))


def default_resources(stack: str) -> list[str]:
    cluster = stack.split(".", 1)[-1]
    p = f"urn:pulumi:{stack}::strata::"
    return [
        f"{p}strata:clusters:EdgeCluster::{cluster}",
        f"{p}strata:clusters:EdgeCluster$command:remote:Command::{cluster}-k3s-install",
        f"{p}strata:clusters:EdgeCluster$pulumi:providers:kubernetes::{cluster}-k8s",
        f"{p}strata:packs:PackStack::{cluster}",
        f"{p}strata:packs:PackStack$kubernetes:core/v1:Namespace::{cluster}-ns-envoy-gateway",
        f"{p}strata:packs:PackStack$strata:packs:Pack::{cluster}-envoy-gateway",
        f"{p}strata:packs:PackStack$strata:packs:Pack$kubernetes:helm.sh/v4:Chart::{cluster}-envoy-gateway",
    ]


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def flags(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def fail(message: str, stdout: str = "") -> NoReturn:
    if stdout:
        print(stdout)
    print(message, file=sys.stderr)
    sys.exit(255)


class Events:
    def __init__(self, path: str | None) -> None:
        self.fh = open(path, "a") if path else None  # noqa: SIM115
        self.seq = 0

    def emit(self, **event: Any) -> None:
        if self.fh is None:
            return
        self.seq += 1
        self.fh.write(json.dumps({"sequence": self.seq, "timestamp": int(time.time()), **event}) + "\n")
        self.fh.flush()

    def step(self, op: str, urn: str, diffs: list[str] | None = None, new: bool = True) -> None:
        kind = urn.split("::")[2].split("$")[-1]
        state = {"type": kind, "urn": urn, "id": "x", "parent": "", "provider": "", "outputs": {}}
        meta: dict[str, Any] = {
            "op": op, "urn": urn, "type": kind, "provider": "", "old": state, "new": state if new else None
        }
        if diffs:
            meta["diffs"] = diffs
            meta["detailedDiff"] = {d: {"diffKind": "update", "inputDiff": False} for d in diffs}
        self.emit(resourcePreEvent={"metadata": meta, "planning": True})
        self.emit(resOutputsEvent={"metadata": meta, "planning": True})

    def close(self, changes: dict[str, int]) -> None:
        self.emit(summaryEvent={"maybeCorrupt": False, "durationSeconds": 0, "resourceChanges": changes})
        self.emit(cancelEvent={})
        if self.fh:
            self.fh.close()


def locked(stack: str) -> None:
    """Someone else's update holds the lock for the first N operations (DIY backend wording)."""
    counter = STATE / f"{stack}.locked"
    left = scenario(stack).get("locked", 0) - (int(counter.read_text()) if counter.exists() else 0)
    if left > 0:
        counter.write_text(str(scenario(stack).get("locked", 0) - left + 1))
        fail(
            "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
            "or delete the lock file with `pulumi cancel`.\n  file:///state/.pulumi/locks/x.json: created by "
            "someone@elsewhere (pid 4242) at 2026-11-25T10:00:00Z"
        )


def operate(command: str, args: list[str], stack: str) -> None:
    events = Events(flag(args, "--event-log"))
    script = scenario(stack)
    data = load(stack)
    if data is None:
        events.close({})
        fail(f"error: no stack named '{stack}' found")
    if command != "preview" and "--preview-only" not in args:
        locked(stack)
    resources = script.get("resources") or default_resources(stack)
    deployed = data.get("resources", [])
    lock = STATE / f"{stack}.lock"
    writes = command in ("up", "refresh", "destroy") and "--preview-only" not in args
    if writes:
        lock.write_text(str(os.getpid()))

    def interrupted(signum: int, frame: Any) -> None:
        log(args, signal="SIGINT")
        lock.unlink(missing_ok=True)  # a graceful cancel releases the lock
        events.close({})
        fail("error: update canceled")

    signal.signal(signal.SIGINT, interrupted)
    behaviour = script.get(command)
    if behaviour == "hang":
        time.sleep(120)
    time.sleep(script.get("sleep", 0))
    if behaviour == "unreachable":
        lock.unlink(missing_ok=True)
        events.close({})
        fail(
            "error: update failed",
            stdout="kubernetes:core/v1:Namespace (ns): error: configured Kubernetes cluster is unreachable: "
            'Get "https://10.1.2.3:6443/openapi/v2": dial tcp 10.1.2.3:6443: connect: no route to host',
        )
    if behaviour == "fail":
        lock.unlink(missing_ok=True)
        events.close({})
        fail(
            "error: update failed",
            stdout="kubernetes:helm.sh/v4:Chart (x-envoy-gateway): error: release envoy-gateway failed: "
            "context canceled waiting for Deployment; password=[secret]",
        )
    changes: dict[str, int] = {}

    def count(op: str) -> None:
        changes[op] = changes.get(op, 0) + 1

    targets = flags(args, "--target")
    if command == "refresh":
        drift = set(script.get("live_drift", []))
        for urn in deployed:
            changed = urn in drift
            events.step("refresh", urn, ["spec"] if changed else None)
            count("update" if changed else "same")
        if writes:
            data["history"].append(entry("refresh", changes))
    elif command in ("up", "preview"):
        code_drift = set(script.get("code_drift", []))
        if "--refresh" in args:
            code_drift |= set(script.get("live_drift", []))
        if script.get("perpetual"):
            code_drift.add(resources[-1])
        for urn in resources:
            if targets and urn not in targets:
                continue
            if urn not in deployed:
                events.step("create", urn)
                count("create")
            elif urn in code_drift:
                events.step("update", urn, ["values"])
                count("update")
            else:
                count("same")
        if command == "up":
            data["resources"] = sorted(set(deployed) | set(resources))
            data["history"].append(entry("update", changes))
            if targets:  # healed: drop the healed drift from the scenario
                remaining = {
                    k: [u for u in script.get(k, []) if u not in targets] for k in ("live_drift", "code_drift")
                }
                update_scenario(stack, remaining)
    elif command == "destroy":
        for urn in reversed(deployed):
            events.step("delete", urn, new=False)
            count("delete")
        data["resources"] = []
        data["history"].append(entry("destroy", changes))
    events.close(changes)
    lock.unlink(missing_ok=True)
    save(stack, data)
    if command == "preview" and "--expect-no-changes" in args and any(k != "same" for k in changes):
        fail("error: no changes were expected but changes were proposed")
    print(f"{command} of {stack}: {changes}")


def update_scenario(stack: str, values: dict[str, Any]) -> None:
    path = STATE / "scenario.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault(stack, {}).update(values)
    path.write_text(json.dumps(data))


def entry(kind: str, changes: dict[str, int]) -> dict[str, Any]:
    now = datetime.now(UTC).strftime(DT)
    return {
        "kind": kind,
        "startTime": now,
        "endTime": now,
        "message": "",
        "environment": {"exec.kind": "auto.local"},
        "config": {"strata:ssh_key": {"secret": True}},
        "result": "succeeded",
        "resourceChanges": changes,
    }


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--non-interactive"]
    if args[:1] != ["version"]:
        log(args)
    stack = flag(args, "--stack")
    if args[:1] == ["version"]:
        print(VERSION)
    elif args[:1] == ["install"] or args[:2] == ["plugin", "install"]:
        print("installed")
    elif args[:2] == ["stack", "ls"]:
        names = sorted(p.stem for p in (STATE / "stacks").glob("*.json"))
        print(json.dumps([{"name": n, "current": False} for n in names]))
    elif args[:2] == ["stack", "init"]:
        name = args[2]
        if load(name) is not None:
            fail(f"error: stack '{name}' already exists")
        save(name, {"resources": [], "history": []})
    elif args[:2] == ["stack", "select"]:
        if stack is None or load(stack) is None:
            fail(f"error: no stack named '{stack}' found")
    elif args[:2] == ["stack", "output"]:
        data = load(stack or "") or {}
        secret = "--show-secrets" in args
        outputs: dict[str, Any] = {"environment": "edge"} if data.get("resources") else {}
        if outputs:
            outputs["clusters"] = {"kubeconfig": "apiVersion: v1"} if secret else "[secret]"
        print(json.dumps(outputs))
    elif args[:2] == ["stack", "history"]:
        data = load(stack or "") or {"history": []}
        history = list(reversed(data["history"]))
        for n, item in enumerate(history):
            item["version"] = len(history) - n
        size = flag(args, "--page-size")
        print(json.dumps(history[: int(size)] if size else history))
    elif args[:1] in (["up"], ["preview"], ["refresh"], ["destroy"]):
        operate(args[0], args, stack or "")
    elif args[:1] == ["cancel"]:
        log(args, forbidden=True)
        fail("error: cancel is not something a fleet run may do")
    else:
        fail(f"error: the fake pulumi does not know {args}")


if __name__ == "__main__":
    main()
