"""``strata check``: the policy rules on an environment's plans, every finding with rule, cluster, file and path.

It runs :func:`stacks.plan.check_environment`, the very check ``strata plan`` and the Pulumi program run, and
shows its policy findings at every level (``strata plan`` fails on the mandatory ones and only counts the
advisory ones). Exit code: 0 when nothing mandatory is violated, 1 otherwise (or when the environment does not
plan at all).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from packs.catalogue import PACKS_DIR, load_catalogue
from packs.errors import PlanError, PlanErrors
from policy.rules import RULES, Level
from stacks.environment import CONFIG_DIR, load_environment
from stacks.options import EnvName, TeamsDir
from stacks.plan import check_environment, collector_paused, file_config
from stacks.policy import PolicyFinding, params_for, resolve_levels
from stacks.render import Column, print_table

CHECK_SCHEMA = "strata.check/v1"

_WIDTH = None if sys.stdout.isatty() else 200
out = Console(soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_WIDTH)


def run_check(
    env: str,
    cluster: str | None = None,
    config_dir: Path = CONFIG_DIR,
    packs_dir: Path = PACKS_DIR,
    teams_dir: Path | None = None,
) -> tuple[list[PolicyFinding], list[PlanError]]:
    """The policy findings of an environment (or one cluster), team namespaces included, and the errors that are
    not policy findings (a cluster that does not resolve cannot be judged). Raises PlanErrors when the environment
    does not load."""
    with collector_paused():
        environment = load_environment(env, config_dir, teams_dir=teams_dir)
        entries = environment.clusters
        if cluster is not None:
            entries = (environment.select(cluster),)
        verdict = check_environment(
            environment, entries, load_catalogue(packs_dir), file_config(config_dir / f"Pulumi.{env}.yaml")
        )
    policy_errors = {f.as_error() for f in verdict.policy if f.level is Level.MANDATORY}
    return verdict.policy, [e for e in verdict.errors if e not in policy_errors]


_STRICTNESS = {Level.DISABLED: 0, Level.ADVISORY: 1, Level.MANDATORY: 2}


def pack_config(
    env: str, cluster: str | None = None, config_dir: Path = CONFIG_DIR, packs_dir: Path = PACKS_DIR
) -> dict[str, Any]:
    """The policy pack config that makes ``pulumi preview --policy-pack policy`` enforce what ``strata check``
    enforces for this environment: each rule at its level (the strictest of the stack's clusters) with the
    environment's settings. One source of truth, ``strata:policy`` and the profiles, for both points."""
    environment = load_environment(env, config_dir)
    catalogue = load_catalogue(packs_dir)
    entries = [environment.select(cluster)] if cluster else list(environment.clusters)
    levels: dict[str, Level] = {}
    for profiles in {e.spec.profiles for e in entries}:
        loaded = catalogue.loaded_profiles(profiles)
        found, errors = resolve_levels(
            environment.settings.production, loaded, environment.settings.policy.rules, environment.file
        )
        if errors:
            raise PlanErrors(errors)
        for rule, level in found.items():
            if rule not in levels or _STRICTNESS[level] > _STRICTNESS[levels[rule]]:
                levels[rule] = level
    params = params_for(environment)
    return {
        rule: {
            "enforcementLevel": level.value,
            "production": params.production,
            "allowedRepositories": list(params.allowed_repositories),
            "requiredTags": list(params.required_tags),
        }
        for rule, level in sorted(levels.items())
    }


def report(env: str, findings: list[PolicyFinding], errors: list[PlanError]) -> dict[str, Any]:
    """The ``--json`` document (schema ``strata.check/v1``)."""
    mandatory = sum(1 for f in findings if f.level is Level.MANDATORY)
    return {
        "schema": CHECK_SCHEMA,
        "environment": env,
        "passed": not mandatory and not errors,
        "summary": {"mandatory": mandatory, "advisory": len(findings) - mandatory, "errors": len(errors)},
        "findings": [f.as_dict() for f in findings],
        "errors": [e.as_dict() for e in errors],
    }


def check(
    env: EnvName = "local",
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Check only this cluster.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report (schema strata.check/v1).")] = False,
    rules: Annotated[bool, typer.Option("--rules", help="List the rules, then exit.")] = False,
    pulumi_config: Annotated[
        bool,
        typer.Option(
            "--pulumi-config",
            help="Print the CrossGuard pack's config for this environment (pulumi preview --policy-pack policy "
            "--policy-pack-config FILE), then exit.",
        ),
    ] = False,
    config_dir: Annotated[
        Path, typer.Option("--config-dir", envvar="STRATA_CONFIG_DIR", help="Folder of Pulumi.<env>.yaml files.")
    ] = CONFIG_DIR,
    packs_dir: Annotated[
        Path, typer.Option("--packs-dir", envvar="STRATA_PACKS_DIR", help="Folder of catalog/ and profiles/.")
    ] = PACKS_DIR,
    teams_dir: TeamsDir = None,
) -> None:
    """Evaluate the policy rules (docs/policy.md) on an environment offline, team namespaces included; exit 1 on a
    mandatory violation."""
    if rules:
        rows = [(r.id, r.title, "stack" if r.stack else "resource") for r in RULES.values()]
        print_table(out, "policy rules", [Column("rule", whole=True), Column("requires"), Column("scope")], rows)
        return
    if pulumi_config:
        try:
            print(json.dumps(pack_config(env, cluster, config_dir, packs_dir), indent=2, sort_keys=True))
        except PlanErrors as exc:
            for e in exc.errors:
                err.print(f"[red]error[/red]: {escape(str(e))}", markup=True, highlight=False)
            raise typer.Exit(1) from None
        return
    try:
        findings, errors = run_check(env, cluster, config_dir, packs_dir, teams_dir)
    except PlanErrors as exc:
        findings, errors = [], list(exc.errors)
    doc = report(env, findings, errors)
    if as_json:
        print(json.dumps(doc, separators=(",", ":")))
    else:
        for e in errors:
            err.print(f"[red]error[/red]: {escape(str(e))}", markup=True, highlight=False)
        if findings:
            finding_rows = [
                (f.level.value, f.rule, f.cluster, f"{f.file}: {f.path}", f"{f.message}; {f.fix}")
                for f in sorted(findings, key=lambda f: (f.level is not Level.MANDATORY, f.rule, f.cluster))
            ]
            columns = [Column("level"), Column("rule", whole=True), Column("cluster", whole=True), Column("where"),
                       Column("finding")]
            print_table(out, f"policy findings in {env}", columns, finding_rows)
        s = doc["summary"]
        line = f"{s['mandatory']} mandatory and {s['advisory']} advisory finding(s) in environment {env}"
        if s["errors"]:  # an environment that does not plan cannot be judged: say why, not "fix the mandatory"
            line += f"; {s['errors']} error(s) above: fix them, then check again"
        elif s["mandatory"]:
            line += "; nothing may be deployed until the mandatory ones are fixed"
        (out if doc["passed"] else err).print(line, markup=False, highlight=False)
    if not doc["passed"]:
        raise typer.Exit(1)
