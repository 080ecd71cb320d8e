"""``strata render``: every cluster's delivery written as plain files, for Git or an OCI artifact.

The same plan as ``strata plan`` (the same check runs first: nothing is written for an environment with a
mistake), realised as files by components/delivery/render.py. ``--delivery`` overrides the clusters' own
setting, so the Flux bundle and today's Pulumi rendering of one plan can be compared side by side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from components.delivery.flux import delivery_bundle
from components.delivery.plan import DeliveryMode, DeliveryPlan, plan_delivery
from components.delivery.render import Rendered, flux_files, pulumi_files, write_bundle
from packs.catalogue import PACKS_DIR, load_catalogue
from packs.errors import PlanError, PlanErrors
from packs.resolve import Resolver
from stacks.environment import CONFIG_DIR
from stacks.plan import ClusterPlan, EnvironmentPlan, plan_environment, request_for


def render_environment(
    result: EnvironmentPlan, out: Path, mode: DeliveryMode | None = None, packs_dir: Path = PACKS_DIR
) -> list[Rendered]:
    """Write one folder per cluster of ``result`` under ``out``; raise PlanErrors when ``mode`` cannot apply.

    Every cluster's delivery is settled before the first folder is written: a ``--delivery`` that does not
    apply to some cluster reports every such cluster and leaves ``out`` untouched, never half a fleet written.
    """
    resolver: Resolver | None = None
    deliveries: list[DeliveryPlan] = []
    errors: list[PlanError] = []
    for cp in result.clusters:
        delivery = cp.delivery
        if mode is not None and mode is not delivery.mode:
            resolver = resolver or Resolver(load_catalogue(packs_dir))
            where = ("--delivery", cp.entry.spec.name)
            delivery, found = plan_delivery(mode, delivery.mirror, cp.plan, request_for(cp.entry), resolver, where)
            errors.extend(found)
        deliveries.append(delivery)
    if errors:
        raise PlanErrors(errors)
    # The source each site's Flux syncs the bundle from (strata:bundle_source; `flux bootstrap` names it flux-system).
    setting = result.environment.settings.bundle_source
    source = (setting.kind, setting.name)
    return [
        write_bundle(out, cp.entry.spec.name, _files(cp, delivery, source))
        for cp, delivery in zip(result.clusters, deliveries, strict=True)
    ]


def _files(cp: ClusterPlan, delivery: DeliveryPlan, source: tuple[str, str]) -> dict[str, bytes | str]:
    if delivery.mode is DeliveryMode.FLUX:
        return flux_files(delivery_bundle(cp.plan, cp.drift, delivery, source), delivery)
    return pulumi_files(cp.plan, delivery.mirror)


def render(
    env: Annotated[str, typer.Option("--env", "-e", help="Environment name (stacks/config/Pulumi.<env>.yaml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write; one sub-folder per cluster.")],
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Render only this cluster.")] = None,
    delivery: Annotated[
        DeliveryMode | None,
        typer.Option("--delivery", help="Render as flux or pulumi; default: each cluster's own delivery."),
    ] = None,
    config_dir: Annotated[
        Path, typer.Option("--config-dir", envvar="STRATA_CONFIG_DIR", help="Folder of Pulumi.<env>.yaml files.")
    ] = CONFIG_DIR,
    packs_dir: Annotated[
        Path, typer.Option("--packs-dir", envvar="STRATA_PACKS_DIR", help="Folder of catalog/ and profiles/.")
    ] = PACKS_DIR,
) -> None:
    """Write each cluster's bundle (Flux objects and kustomization.yaml, or today's Pulumi rendering) as plain,
    byte-identical YAML; secrets are never written, only listed in strata-bundle.yaml."""
    from stacks.cli import _fail, err

    started = time.perf_counter()
    try:
        result = plan_environment(env, cluster, config_dir=config_dir, packs_dir=packs_dir)
        rendered = render_environment(result, out, delivery, packs_dir)
    except PlanErrors as exc:
        _fail(exc, False)
        return
    except OSError as exc:  # a read-only or full disk, a file where a folder goes, a foreign folder
        err.print(f"[red]error[/red]: {escape(write_error(exc))}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    size = sum(r.bytes for r in rendered)
    # Only a Flux bundle asks the site for Secrets; a Pulumi rendering's deploy-time values are Pulumi's.
    flux = [cp for cp in result.clusters if (delivery or cp.delivery.mode) is DeliveryMode.FLUX]
    secrets = sorted({s for cp in flux for s in _secret_names(cp)})
    print(
        f"rendered {len(rendered)} cluster(s) to {out} ({sum(r.files for r in rendered)} files, {size:,} bytes) "
        f"in {time.perf_counter() - started:.2f} s"
    )
    if secrets:
        print(f"each site must hold the Secrets listed in its strata-bundle.yaml ({', '.join(secrets)})")


def write_error(exc: OSError) -> str:
    """One line for a folder that cannot be written: which path, why, and what to do."""
    if exc.strerror is None:  # strata's own refusal, already a sentence
        return str(exc)
    return f"{exc.filename}: cannot write: {exc.strerror}; choose another --out (or make it writable)"


def _secret_names(cp: ClusterPlan) -> list[str]:
    from components.delivery.flux import pack_secret

    return [s.name for p in cp.plan.packs if p.source.kind == "helm" and (s := pack_secret(p)) is not None]
