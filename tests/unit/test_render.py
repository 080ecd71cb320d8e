"""Terminal output: names are never cut at any width, and --explain shows each distinct plan once."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from packs.catalogue import load_catalogue
from packs.resolve import ResolvedPlan
from stacks import cli
from stacks.environment import CONFIG_DIR
from stacks.plan import ClusterPlan, plan_environment
from stacks.render import explain_key, facts_as_placeholders, group, print_plans

runner = CliRunner()
CATALOGUE = load_catalogue()


def written(console: Console) -> str:
    """What a test console (writing to a StringIO) has printed."""
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def render(clusters: Sequence[ClusterPlan], explain: bool, console: Console) -> str:
    print_plans(console, clusters, explain)
    return written(console)


def consoles() -> dict[str, Console]:
    """A terminal of 80 columns, a pipe (rich's own default for a file: 80, no terminal), and the CLI's pipe."""
    return {
        "terminal-80": Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None),
        "pipe": Console(file=io.StringIO()),
        "cli-pipe": Console(file=io.StringIO(), soft_wrap=True, width=cli._WIDTH),
        "narrow-40": Console(file=io.StringIO(), width=40),
    }


def names_in(plans: list[ResolvedPlan]) -> set[str]:
    out = set()
    for plan in plans:
        out |= set(plan.profiles)
        out |= {p.ref for p in plan.packs} | {p.profile for p in plan.packs}
    return out


@pytest.mark.parametrize("env", ["dev", "prod", "local"])
@pytest.mark.parametrize("explain", [False, True])
@pytest.mark.parametrize("kind", ["terminal-80", "pipe", "cli-pipe", "narrow-40"])
def test_every_name_appears_whole(env: str, explain: bool, kind: str) -> None:
    clusters = plan_environment(env, catalogue=CATALOGUE).clusters
    plans = [c.plan for c in clusters]
    text = render(clusters, explain, consoles()[kind])
    assert "…" not in text
    words = set(re.findall(r"[^\s│┃,;:()]+", text))
    for name in names_in(plans) | {p.cluster.name for p in plans}:
        assert name in words, f"{name} is cut or missing at {kind}"


def test_compact_layout_below_the_table_width() -> None:
    """At 80 columns the dev plan does not fit as a table: every pack still gets a line of its own."""
    clusters = plan_environment("dev", "dev-eks", catalogue=CATALOGUE).clusters
    plans = [c.plan for c in clusters]
    text = render(clusters, False, consoles()["terminal-80"])
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines)
    for pack in plans[0].packs:
        assert pack.ref in lines, pack.ref  # the name alone on its line
    wide = render(clusters, False, Console(file=io.StringIO(), width=200))
    assert "┃ pack" in wide  # and a table where it fits


def test_packs_list_and_show_keep_names_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(file=io.StringIO(), width=80)
    monkeypatch.setattr(cli, "out", console)
    assert runner.invoke(cli.app, ["packs"]).exit_code == 0
    assert runner.invoke(cli.app, ["packs", "show", "kube-prometheus-stack"]).exit_code == 0
    text = written(console)
    assert "…" not in text
    words = set(re.findall(r"[^\s│┃,;:()]+", text))
    for name, _ in CATALOGUE.packs:
        assert name in words
    for loaded in CATALOGUE.profiles.values():
        assert loaded.profile.ref in words


# ----------------------------------------------------------------------------------------- --explain


def test_explain_of_the_edge_fleet_is_one_group() -> None:
    result = plan_environment("edge", catalogue=CATALOGUE)
    plans = [c.plan for c in result.clusters]
    assert len(plans) == 240
    text = render(result.clusters, True, Console(file=io.StringIO(), width=200))
    lines = text.splitlines()
    assert len(lines) < 100, len(lines)  # was 15,361
    heading = " ".join(text.split("┏")[0].split())
    assert heading.startswith("240 clusters with this plan (edge, Kubernetes 1.34)")
    assert "eu-west-fr-00001" in heading and "and 235 more" in heading
    for pack in plans[0].packs:
        assert f"{pack.ref} values" in text or not pack.provenance
    doc = result.as_dict(explain=True)  # --json stays exhaustive
    assert len(doc["clusters"]) == 240 and all("provenance" in p for p in doc["clusters"][0]["packs"])


def _edge_variant(tmp_path: Path, overrides: Mapping[str, object], rows: Mapping[str, Mapping[str, object]]) -> Path:
    """The shipped edge environment with overrides for every site, and a replica count per site."""
    config = tmp_path / "stacks" / "config"
    shutil.copytree(CONFIG_DIR, config)
    path = config / "Pulumi.edge.yaml"
    doc = yaml.safe_load(path.read_text())
    inventory = doc["config"]["strata:inventory"]
    inventory["defaults"]["overrides"] = overrides
    csv_path = config / inventory["file"]
    lines = csv_path.read_text().splitlines()
    header = lines[0] + ",variables.envoy-gateway.replicas"
    body = [line + "," + str(rows.get(line.split(",")[0], {}).get("replicas", "")) for line in lines[1:]]
    csv_path.write_text("\n".join([header, *body]) + "\n")
    path.write_text(yaml.safe_dump(doc))
    return config


def test_groups_split_on_what_the_environment_sets(tmp_path: Path) -> None:
    """Sites the inventory gives another replica count form their own groups, one per value."""
    rows = {
        "eu-west-fr-00001": {"replicas": 3},
        "eu-central-de-00002": {"replicas": 4},
        "us-east-ny-00003": {"replicas": 3},
    }
    config = _edge_variant(tmp_path, {}, rows)
    clusters = plan_environment("edge", config_dir=config, catalogue=CATALOGUE).clusters
    groups = group(clusters, explain_key)
    assert sorted(len(g) for g in groups) == [1, 2, 237]
    [pair] = [g for g in groups if len(g) == 2]
    assert [c.plan.cluster.name for c in pair] == ["eu-west-fr-00001", "us-east-ny-00003"]
    text = render(clusters, True, Console(file=io.StringIO(), width=200))
    assert text.count("clusters with this plan") == 2  # the single site is shown as itself
    assert re.search(
        r"deployment\.replicas\s*│ 3\s*│ env-variable\s*│ \S*edge-sites",
        text,
    )
    flat = re.sub(r"[\s│]+", " ", text)  # the provenance column wraps with the temporary folder's length
    assert "each cluster's own entry, variables.envoy-gateway.replicas" in flat


def test_values_templated_with_facts_group_and_show_the_template(tmp_path: Path) -> None:
    """An environment value built from each site's facts does not split the fleet; it is shown as a template."""
    name = "{{ cluster.name }}"
    overrides = {"envoy-gateway": {"deployment": {"pod": {"labels": {"site-gateway": f"gw-{name}"}}}}}
    config = _edge_variant(tmp_path, overrides, {})
    clusters = plan_environment("edge", config_dir=config, catalogue=CATALOGUE).clusters
    assert len(group(clusters, explain_key)) == 1
    text = render(clusters, True, Console(file=io.StringIO(), width=200))
    assert '"gw-{{ cluster.name }}"' in text
    assert "gw-eu-west-fr-00001" not in text


def test_facts_as_placeholders_round_trips() -> None:
    """Putting a cluster's own facts back into the shown template gives exactly its value again."""
    plans = [c.plan for c in plan_environment("edge", catalogue=CATALOGUE).clusters][:20]
    for plan in plans:
        f = plan.cluster
        value = {
            "a": f"{f.name}-logs",
            "b": [f"region={f.region}", f"site {f.extra['site']}"],
            "c": "frontend",  # "fr" (a label) only as a whole word
            "d": 3,
        }
        shown = facts_as_placeholders(value, f)
        assert shown["a"] == "{{ cluster.name }}-logs"
        assert shown["b"] == ["region={{ cluster.region }}", "site {{ cluster.site }}"]
        assert shown["c"] == "frontend" and shown["d"] == 3
        back = json.dumps(shown)
        for placeholder, fact in [
            ("{{ cluster.name }}", f.name),
            ("{{ cluster.region }}", f.region),
            ("{{ cluster.site }}", f.extra["site"]),
        ]:
            back = back.replace(placeholder, str(fact or ""))
        assert json.loads(back) == value
