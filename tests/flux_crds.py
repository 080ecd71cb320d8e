"""Validate custom resources against the upstream Flux CRDs in ``../shared/upstream/crds/``.

The CRDs are read where they are (never copied into the project); a test calling :func:`validator` skips,
saying why, when that folder is absent. The served version's ``openAPIV3Schema`` becomes a JSON Schema the
way the API server reads it: ``x-kubernetes-int-or-string`` accepts both, and an object accepts fields its
schema does not declare only where ``x-kubernetes-preserve-unknown-fields`` says so. Everywhere else an
unknown field is an error here, because the API server would silently prune it: a misspelt Flux field
would never apply.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

CRDS = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "crds"


def _structural(schema: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in schema:
        out["properties"] = {k: _structural(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(schema["additionalProperties"])
    if "items" in schema:
        out["items"] = _structural(schema["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            out[key] = [_structural(s) for s in schema[key]]
    return out


@functools.cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.fluxcd.io/*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = _structural(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server itself, not by the CRD's schema
                schema["properties"]["metadata"] = {"type": "object"}
                found[(f"{group}/{version['name']}", kind)] = schema
    return found


def validator() -> Any:
    """A function raising ``jsonschema.ValidationError`` for an invalid Flux object (skip without the CRDs)."""
    if not CRDS.is_dir():
        pytest.skip(f"upstream Flux CRDs not found at {CRDS} (they sit beside a strata checkout in ../shared)")
    schemas = _schemas()

    def validate(obj: dict[str, Any]) -> None:
        key = (obj["apiVersion"], obj["kind"])
        assert key in schemas, f"no served CRD for {key}; served: {sorted(schemas)}"
        jsonschema.validate(obj, schemas[key])
        meta = obj["metadata"]
        assert meta.get("name") and meta.get("namespace"), f"{key} needs a name and a namespace: {meta}"

    return validate
