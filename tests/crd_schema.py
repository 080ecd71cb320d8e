"""Validate custom resources against the upstream CRDs in ``../shared/upstream/crds`` (never copied here).

The API server prunes fields a structural schema does not declare: a misspelt ``spec`` field is dropped
without a word and the setting silently never applies. So the check is stricter than ``jsonschema`` alone:
every object schema that declares ``properties`` refuses any other key, unless the CRD marks it
``x-kubernetes-preserve-unknown-fields``; ``x-kubernetes-int-or-string`` accepts an integer or a string.
The CRD's CEL rules are not evaluated here; the ones a test needs (Stack names up to 42 characters) are
asserted by that test.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

CRDS = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "crds"


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-validations")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator:
    path = CRDS / group / f"{kind}.yaml"
    if not path.is_file():
        pytest.skip(f"upstream CRD {group}/{kind} not found at {path} (../shared/upstream is absent in this checkout)")
    crd = yaml.safe_load(path.read_text())
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    if version not in served:
        raise AssertionError(f"{group}/{kind} does not serve {version} (serves {sorted(served)})")
    schema = _strict(served[version]["schema"]["openAPIV3Schema"])
    # metadata is the API server's (ObjectMeta); the CRD declares it as a bare object.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate_custom_resource(obj: Mapping[str, Any]) -> None:
    """Raise AssertionError listing every schema violation of ``obj`` (apiVersion ``<group>/<version>``)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    errors = sorted(_validator(group, obj["kind"], version).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
        raise AssertionError(f"{obj['kind']} {obj['metadata'].get('name')} violates its CRD:\n" + "\n".join(lines))
