"""Generated secrets and variables required only while a feature is on, resolved on a small catalogue."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from packs.model import Variable
from tests.unit.test_resolve import base_packs, base_profile, errors_of, resolve

PASSWORD = {
    "name": "password",
    "type": "string",
    "path": "ui.password",
    "description": "admin password of the bundled UI",
    "secret": True,
    "required_when": {"path": "ui.enabled", "equals": True},
    "generate": {"length": 24},
}
UI = {"name": "ui", "type": "boolean", "path": "ui.enabled", "description": "bundled UI", "default": True}
TOKEN = {  # required while the UI is on, never generated
    "name": "token",
    "type": "string",
    "path": "ui.token",
    "description": "licence token of the bundled UI",
    "secret": True,
    "required_when": {"path": "ui.enabled", "equals": True},
}


def packs_with(*variables: dict[str, Any]) -> list[dict[str, Any]]:
    packs = base_packs()
    packs[4] = {**packs[4], "variables": [*packs[4]["variables"], UI, *variables]}
    return packs


def profiles(*secrets: dict[str, Any]) -> list[dict[str, Any]]:
    return [base_profile(expose=["domain", "ui", *(v["name"] for v in secrets)])]


def test_an_unset_secret_is_generated_and_the_plan_says_so_without_a_value() -> None:
    app = resolve(packs=packs_with(PASSWORD), profiles=profiles(PASSWORD)).pack("app")
    assert app.values["ui"]["password"] == "{{ secret.password }}"
    assert "ui.password" in app.deferred
    assert app.generated["password"].length == 24
    assert not app.secrets
    assert app.as_dict()["secrets"] == {"password": {"generated": {"length": 24, "special": False}}}
    origin = app.provenance["ui.password"]
    assert (origin.source, origin.file, origin.path) == (
        "generated",
        "packs/catalog/app/1.0.0/pack.yaml",
        "variables[5].generate",
    )


def test_an_environment_reference_wins_over_generation() -> None:
    variables = {"app.domain": "example.com", "app.password": {"env": "APP_PASSWORD"}}
    app = resolve(packs=packs_with(PASSWORD), profiles=profiles(PASSWORD), variables=variables).pack("app")
    assert app.secrets["password"].env == "APP_PASSWORD"
    assert not app.generated
    assert app.as_dict()["secrets"] == {"password": {"env": "APP_PASSWORD"}}


def test_nothing_is_generated_or_required_while_the_feature_is_off() -> None:
    variables = {"app.domain": "example.com", "app.ui": False}
    plan = resolve(packs=packs_with(PASSWORD, TOKEN), profiles=profiles(PASSWORD, TOKEN), variables=variables)
    app = plan.pack("app")
    assert not app.generated and not app.secrets
    assert "password" not in app.values["ui"] and "token" not in app.values["ui"]
    assert "ui.password" not in app.deferred


def test_an_override_turning_the_feature_off_counts_too() -> None:
    """The condition is read on the final values, whoever wrote them."""
    app = resolve(packs=packs_with(TOKEN), profiles=profiles(TOKEN), overrides={"app": {"ui": {"enabled": False}}})
    assert "token" not in app.pack("app").values["ui"]


def test_a_conditionally_required_variable_is_an_error_only_while_the_feature_is_on() -> None:
    errs = errors_of(packs=packs_with(TOKEN), profiles=profiles(TOKEN))
    assert errs == [
        "stacks/config/Pulumi.test.yaml: clusters[0].variables.app.token: pack app needs variable 'token' while "
        "ui.enabled is true (required, no default) [cluster c1]"
    ]
    ok = {"app.domain": "example.com", "app.token": {"file": "~/token"}}
    assert resolve(packs=packs_with(TOKEN), profiles=profiles(TOKEN), variables=ok).pack("app").secrets["token"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"secret": False, "generate": {"length": 20}}, "only secret variables can be generated"),
        ({"required": True}, "a generated secret is never required"),
        ({"required_on": ["eks"]}, "a generated secret is never required"),
        ({"generate": {"length": 8}}, "greater than or equal to 16"),
        ({"generate": {"override_special": "-_"}}, "override_special needs special: true"),
    ],
)
def test_generated_secret_declarations_that_cannot_work_are_rejected(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        unconditional = {k: v for k, v in PASSWORD.items() if k != "required_when"}
        Variable.model_validate({**unconditional, **extra})


def test_required_when_replaces_required_and_defaults() -> None:
    flag = {"name": "f", "type": "string", "path": "f", "description": "d", "required_when": {"path": "x", "equals": 1}}
    with pytest.raises(ValidationError, match="required_when replaces required and a default"):
        Variable.model_validate({**flag, "required": True})
    with pytest.raises(ValidationError, match="required_when replaces required and a default"):
        Variable.model_validate({**flag, "default": "v"})


def test_a_condition_compares_types_exactly() -> None:
    var = Variable.model_validate(TOKEN)
    assert var.wanted({"ui": {"enabled": True}})
    assert not var.wanted({"ui": {"enabled": "true"}})  # a string is not the boolean the pack tests for
    assert not var.wanted({"ui": {}})
    assert not var.wanted({"ui": "flat"})


def test_packs_show_says_when_a_secret_is_generated() -> None:
    from typer.testing import CliRunner

    from stacks.cli import app

    result = CliRunner().invoke(app, ["packs", "show", "kube-prometheus-stack"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(i for i, line in enumerate(lines) if "grafana_admin_password" in line)
    cell = " ".join(line.split("│")[4].strip() for line in lines[row : row + 2])  # the default column, folded
    assert cell == "generated (32 characters) while grafana.enabled = true"
