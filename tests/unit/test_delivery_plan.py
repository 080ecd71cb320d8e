"""``delivery`` and ``mirror`` per environment, cluster and inventory row: resolved and checked by the plan, shown
in the table and the JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from packs.errors import PlanErrors
from packs.model import Layer
from stacks.cli import app
from stacks.plan import plan_environment
from stacks.render import plan_rows

runner = CliRunner()
MIRROR = "oci://registry.site.local/charts"


def site(name: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "target": "edge",
        "kubernetes_version": "1.34",
        "profiles": ["edge-minimal@1.0.0", "developer-essentials@1.1.0"],
        "site": name,
        "hosts": [{"name": "n1", "address": "10.0.0.1"}],
        "ssh_key": {"env": "EDGE_KEY"},
        "cpu_millicores": 2000,
        "memory_mib": 4096,
    }
    doc.update(extra)
    return doc


def write(config: Path, env: str, settings: dict[str, Any]) -> None:
    config.mkdir(parents=True, exist_ok=True)
    doc = {"config": {f"strata:{k}": v for k, v in settings.items()}}
    (config / f"Pulumi.{env}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_cluster_and_row_settings_win_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(
        f"name,site,address,mirror,delivery\nrow-1,row-1,10.0.0.9,{MIRROR}/row,pulumi\n"
    )
    write(
        tmp_path,
        "t",
        {
            "delivery": "flux",
            "mirror": MIRROR,
            "clusters": [site("a"), site("b", delivery="pulumi", mirror="oci://other.local:5000/c")],
            "inventory": {"file": "sites.csv", "defaults": {k: v for k, v in site("x").items() if k != "name"}},
        },
    )
    plans = {c.entry.spec.name: c.delivery for c in plan_environment("t", config_dir=tmp_path).clusters}
    assert plans["a"].as_dict() == {"mode": "flux", "mirror": MIRROR, "controllers": ["flux2@2.18.3"], "next": None}
    assert plans["b"].as_dict() == {
        "mode": "pulumi",
        "mirror": "oci://other.local:5000/c",
        "controllers": [],
        "next": None,
    }
    assert plans["row-1"].as_dict() == {"mode": "pulumi", "mirror": f"{MIRROR}/row", "controllers": [], "next": None}


def test_the_plan_shows_delivery_and_mirror(tmp_path: Path) -> None:
    write(tmp_path, "t", {"delivery": "flux", "mirror": MIRROR, "clusters": [site("a")]})
    result = runner.invoke(app, ["plan", "--env", "t", "--config-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "flux2@2.18.3" in result.stdout and "delivery: flux" in result.stdout
    assert "registry.site.local" in result.stdout
    [cp] = plan_environment("t", config_dir=tmp_path).clusters
    rows = {row[1]: row for row in plan_rows(cp.plan, cp.delivery)}
    assert rows["cert-manager@1.21.1+strata.1"][2] == f"helm cert-manager@v1.21.1 from {MIRROR}/cert-manager (flux)"
    assert rows["flux2@2.18.3"][2] == f"helm flux2@2.18.3 from {MIRROR}/flux2"
    doc = json.loads(runner.invoke(app, ["plan", "--env", "t", "--json", "--config-dir", str(tmp_path)]).stdout)
    cluster = doc["clusters"][0]
    assert cluster["delivery"] == {"mode": "flux", "mirror": MIRROR, "controllers": ["flux2@2.18.3"], "next": None}
    # the pack's own source is the catalogue's: the mirror rewrites where it is fetched, not the pack
    cert = next(p for p in cluster["packs"] if p["name"] == "cert-manager")
    assert cert["source"]["repository"] == "oci://quay.io/jetstack/charts"


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        ({"mirror": "https://registry.local/charts"}, 'config."strata:mirror"', "should match pattern"),
        ({"delivery": "argo"}, 'config."strata:delivery"', "unknown value 'argo'; use one of pulumi, flux"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, settings: dict[str, Any], path: str, message: str) -> None:
    write(tmp_path, "t", {**settings, "clusters": [site("a")]})
    with pytest.raises(PlanErrors) as exc:
        plan_environment("t", config_dir=tmp_path)
    [error] = exc.value.errors
    assert error.path == path and message in error.message


def test_flux_where_it_cannot_run_is_a_plan_error_naming_the_setting(tmp_path: Path) -> None:
    """The controllers are planned like any profile: a Kubernetes version outside flux2's range (here a copy of
    the catalogue whose flux2 stops before 1.34) fails the plan, pointing at the cluster's delivery setting."""
    import shutil

    from packs.catalogue import PACKS_DIR

    root = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    flux = root / "catalog" / "flux2" / "2.18.3" / "pack.yaml"
    flux.write_text(flux.read_text().replace('kubernetes: ">=1.30,<1.36"', 'kubernetes: ">=1.30,<1.34"'))
    config = tmp_path / "config"
    write(config, "t", {"clusters": [site("a", delivery="flux"), site("b")]})
    args = ["plan", "--env", "t", "--config-dir", str(config), "--packs-dir", str(root)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert 'config."strata:clusters"[0].delivery: delivery flux:' in result.stderr
    assert "flux2" in result.stderr and "[cluster a]" in result.stderr and "[cluster b]" not in result.stderr
    assert "Traceback" not in result.output
    write(config, "t", {"clusters": [site("a"), site("b")]})
    assert runner.invoke(app, args).exit_code == 0


def test_readme_delivery_example_plans(tmp_path: Path) -> None:
    """The README's "Delivery: Pulumi or Flux" snippet is a real environment: flux, the environment's mirror
    overridden by the cluster's own."""
    from tests.test_readme import README, fenced

    section = README.split("## Delivery: Pulumi or Flux", 1)[1]
    doc = yaml.safe_load(fenced(section, "yaml"))
    (tmp_path / "Pulumi.readme.yaml").write_text(yaml.safe_dump(doc))
    [cp] = plan_environment("readme", config_dir=tmp_path).clusters
    assert cp.delivery.as_dict() == {
        "mode": "flux",
        "mirror": "oci://10.0.0.1:5000/charts",
        "controllers": ["flux2@2.18.3"],
        "next": None,
    }


def test_fleet_drift_locates_flux_objects_and_the_controllers() -> None:
    """`strata fleet drift` maps a drifted HelmRelease (or the Flux controllers' chart) to its pack and layer."""
    from stacks.fleet.drift import locate
    from stacks.fleet.selection import select_stacks

    layouts = select_stacks("edge", select=["name=eu-west-fr-00001"]).layouts()
    prefix = "urn:pulumi:edge.eu-west-fr-00001::strata::strata:packs:PackStack$strata:packs:Pack"
    release = locate(
        f"{prefix}$kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease::eu-west-fr-00001-cert-manager-release", layouts
    )
    assert (release.pack, release.layer) == ("cert-manager", Layer.ADDON)
    chart = locate(f"{prefix}$kubernetes:helm.sh/v4:Chart::eu-west-fr-00001-flux2", layouts)
    assert (chart.pack, chart.layer) == ("flux2", Layer.ADDON)
