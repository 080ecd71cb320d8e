"""A fake ``kubectl`` holding ``Stack`` objects, with a simulated Pulumi Kubernetes Operator (v2) behind it.

Tests put a ``kubectl`` wrapper that runs this script first on PATH, so the operator engine's real adapter
(:class:`stacks.fleet.operator.KubectlApi`) and the real CLI run against it. It answers what the adapter
invokes, with kubectl's flags, exit codes and error text:

- ``get stacks.pulumi.com NAME -n NS -o json``;
- ``patch stacks.pulumi.com NAME -n NS --type merge -p JSON -o json`` (RFC 7386; ``metadata.generation``
  moves when the spec changes, as the API server does for custom resources);
- ``delete stacks.pulumi.com NAME -n NS --wait=false`` (``deletionTimestamp`` and a new generation while
  the operator's finalizer is held; ``stack.pulumi.com "NAME" deleted``);
- the global flags ``--request-timeout=``, ``--kubeconfig=`` and ``--context=``.

State lives under ``$FAKE_KUBECTL_STATE``: ``objects/<namespace>/<name>.json``; every invocation is appended
to ``calls.jsonl`` (its argv and the kubeconfig file it was given). ``scenario.json`` scripts the cluster and
the operator: ``{"api": "unreachable" | "no-crd" | "unauthorized", "token": "<kubeconfig must hold it>",
"stacks": {"<object name>": {"mode": "succeed" | "fail" | "stale" | "silent" | "forbidden" | "invalid",
"delay": 2, "message": "...", "destroy": "succeed" | "fail"}}}``.

The operator acts when an object is read: ``delay`` reads after a change of spec, a new reconcile request
(the ``pulumi.com/reconciliation-request`` annotation) or a deletion, it writes the status the real
operator writes (``lastUpdate`` with ``generation``, ``reconcileRequest``, ``type``, ``state``, commits,
``failures``; ``observedGeneration``; ``Ready``/``Reconciling``/``Stalled`` conditions). ``stale`` keeps
showing the success of the old commit, ``silent`` never reports, ``invalid`` stalls with ``SpecInvalid``.
A deleted Stack is destroyed (``destroy`` decides how) only with ``destroyOnFinalize: true`` and without
``preview``, as the operator does; otherwise its finalizer is dropped at once and ``orphaned.jsonl``
records a stack deleted without a destroy.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STATE = Path(os.environ.get("FAKE_KUBECTL_STATE", "."))
REQUEST = "pulumi.com/reconciliation-request"
FINALIZER = "finalizer.stack.pulumi.com"
RESOURCES = ("stacks.pulumi.com", "stacks.v1.pulumi.com", "stack.pulumi.com", "stacks", "stack")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def scenario() -> dict[str, Any]:
    path = STATE / "scenario.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def object_path(namespace: str, name: str) -> Path:
    return STATE / "objects" / namespace / f"{name}.json"


def seed(state: Path, objects: list[dict[str, Any]], commit: str) -> None:
    """Store Stack objects as the operator left them after deploying ``commit`` (generation 1, succeeded)."""
    for source in objects:
        obj = json.loads(json.dumps(source))
        obj["spec"]["commit"] = commit
        obj["metadata"].update(generation=1, resourceVersion="1", uid=f"uid-{obj['metadata']['name']}")
        obj["metadata"]["finalizers"] = [FINALIZER]
        obj["status"] = {
            "observedGeneration": 1,
            "lastUpdate": _update("up", "succeeded", 1, "", commit, commit),
            "conditions": [_condition("Ready", "True", "ProcessingCompleted")],
        }
        path = state / "objects" / obj["metadata"]["namespace"] / f"{obj['metadata']['name']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, indent=1))


def _update(
    kind: str,
    state: str,
    generation: int,
    request: str,
    attempted: str,
    successful: str,
    message: str = "",
    failures: int = 0,
) -> dict[str, Any]:
    return {
        "name": f"update-{int(time.time() * 1000)}",
        "type": kind,
        "state": state,
        "generation": generation,
        "reconcileRequest": request,
        "lastAttemptedCommit": attempted,
        "lastSuccessfulCommit": successful,
        "message": message,
        "failures": failures,
        "lastResyncTime": now(),
    }


def _condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": now()}


def fail(message: str, code: int = 1) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(code)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def operate(obj: dict[str, Any], script: dict[str, Any]) -> dict[str, Any] | None:
    """One step of the simulated operator on a read; returns the object, or None once it is finalized."""
    meta, spec = obj["metadata"], obj["spec"]
    status = obj.setdefault("status", {})
    generation = int(meta.get("generation", 1))
    request = (meta.get("annotations") or {}).get(REQUEST, "")
    last = status.get("lastUpdate") or {}
    deleting = bool(meta.get("deletionTimestamp"))
    if deleting and (not spec.get("destroyOnFinalize") or spec.get("preview")):
        # "Preview stacks never create resources", and without destroyOnFinalize nothing is destroyed.
        with (STATE / "orphaned.jsonl").open("a") as fh:
            fh.write(json.dumps({"name": meta["name"], "stack": spec.get("stack")}) + "\n")
        return None
    pending = last.get("generation") != generation or last.get("reconcileRequest", "") != request
    if not pending:
        return obj
    mode = script.get("mode", "succeed")
    if mode == "invalid":
        status["observedGeneration"] = generation
        status["conditions"] = [_condition("Stalled", "True", "SpecInvalid", script.get("message", "invalid spec"))]
        return obj
    status["observedGeneration"] = generation
    status["observedReconcileRequest"] = request
    counter = STATE / "reads" / meta["name"]
    counter.parent.mkdir(parents=True, exist_ok=True)
    key = f"{generation}/{request}/{deleting}"
    seen = counter.read_text().split(" ") if counter.is_file() else ["", "0"]
    reads = (int(seen[1]) if seen[0] == key else 0) + 1
    counter.write_text(f"{key} {reads}")
    if reads < int(script.get("delay", 1)) or mode == "silent" or (mode == "stale" and not deleting):
        status["currentUpdate"] = {"generation": generation, "reconcileRequest": request, "commit": spec.get("commit")}
        status["conditions"] = [_condition("Reconciling", "True", "StackProcessing", "stack is being processed")]
        return obj
    status.pop("currentUpdate", None)
    commit = spec.get("commit", "")
    kind = "destroy" if deleting else ("preview" if spec.get("preview") else "up")
    outcome = script.get("destroy", "succeed") if deleting else ("failed" if mode == "fail" else "succeed")
    if outcome == "succeed":
        if deleting:
            return None  # destroyed: the operator releases its finalizer and the object is gone
        status["lastUpdate"] = _update(kind, "succeeded", generation, request, commit, commit)
        status["conditions"] = [_condition("Ready", "True", "ProcessingCompleted")]
    else:
        same = last.get("generation") == generation and last.get("reconcileRequest", "") == request
        failures = int(last.get("failures", 0)) + 1 if same else 1
        message = script.get("message", f"{kind} failed")
        status["lastUpdate"] = _update(
            kind, "failed", generation, request, commit, last.get("lastSuccessfulCommit", ""), message, failures
        )
        status["conditions"] = [_condition("Reconciling", "True", "RetryingAfterFailure", f"{failures} failure(s)")]
    return obj


def main(argv: list[str]) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    flags: dict[str, str] = {}
    words: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            key, _, value = arg[2:].partition("=")
            flags[key] = value
        elif arg in ("-n", "--namespace", "-o", "--output", "-p", "--patch", "--type", "--context", "--kubeconfig"):
            flags[arg.lstrip("-")] = argv[i + 1]
            i += 1
        else:
            words.append(arg)
        i += 1
    kubeconfig = flags.get("kubeconfig") or os.environ.get("KUBECONFIG", "")
    held = Path(kubeconfig).read_text() if kubeconfig and Path(kubeconfig).is_file() else None
    with (STATE / "calls.jsonl").open("a") as fh:
        fh.write(json.dumps({"args": argv, "kubeconfig": kubeconfig, "kubeconfig_text": held, "t": time.time()}) + "\n")
    plan = scenario()
    api = plan.get("api")
    if api == "unreachable":
        fail("Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout")
    token = plan.get("token")
    if api == "unauthorized" or (token and (held is None or token not in held)):
        fail("error: You must be logged in to the server (Unauthorized)")
    if not words:
        fail("error: You must specify the type of resource to get.")
    verb, rest = words[0], words[1:]
    if verb not in ("get", "patch", "delete"):
        fail(f'error: unknown command "{verb}" for "kubectl"')
    if not rest or rest[0] not in RESOURCES:
        fail(f'error: the server doesn\'t have a resource type "{rest[0] if rest else ""}"')
    if api == "no-crd":
        fail('error: the server doesn\'t have a resource type "stacks"')
    if len(rest) < 2:
        fail("error: resource name may not be empty")
    name, namespace = rest[1], flags.get("n") or flags.get("namespace") or "default"
    script = plan.get("stacks", {}).get(name, {})
    if script.get("mode") == "forbidden":
        verbs = {"get": "get", "patch": "patch", "delete": "delete"}
        fail(
            f'Error from server (Forbidden): stacks.pulumi.com "{name}" is forbidden: User "strata-ci" cannot '
            f'{verbs[verb]} resource "stacks" in API group "pulumi.com" in the namespace "{namespace}"'
        )
    path = object_path(namespace, name)
    if not path.is_file():
        fail(f'Error from server (NotFound): stacks.pulumi.com "{name}" not found')
    obj = json.loads(path.read_text())
    if verb == "get":
        stepped = operate(obj, script)
        if stepped is None:
            path.unlink()
            fail(f'Error from server (NotFound): stacks.pulumi.com "{name}" not found')
        path.write_text(json.dumps(stepped, indent=1))
        print(json.dumps(stepped, indent=4))
        return
    if verb == "patch":
        if flags.get("type") != "merge":
            fail("error: --type must be one of [json merge strategic]")
        try:
            body = json.loads(flags.get("p") or flags.get("patch") or "")
        except ValueError as exc:
            fail(f'error: unable to parse "{flags.get("p")}": {exc}')
        before = obj.get("spec")
        patched = merge(obj, body)
        if patched.get("spec") != before:
            patched["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
        patched["metadata"]["resourceVersion"] = str(int(obj["metadata"].get("resourceVersion", "1")) + 1)
        path.write_text(json.dumps(patched, indent=1))
        if flags.get("o") or flags.get("output"):
            print(json.dumps(patched, indent=4))
        else:
            print(f"stack.pulumi.com/{name} patched")
        return
    # delete
    if flags.get("wait", "true") != "false":
        fail("fake kubectl: delete must not wait for finalizers (--wait=false)", 2)
    if not obj["metadata"].get("deletionTimestamp"):
        obj["metadata"]["deletionTimestamp"] = now()
        obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
    path.write_text(json.dumps(obj, indent=1))
    print(f'stack.pulumi.com "{name}" deleted')


if __name__ == "__main__":
    main(sys.argv[1:])
