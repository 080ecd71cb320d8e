"""``strata render``: per-cluster bundles, byte-identical across runs, valid against the Flux CRDs, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from components.delivery.flux import flux_bundle
from components.delivery.render import dump
from stacks.cli import app
from stacks.plan import plan_environment
from tests.flux_crds import validator

runner = CliRunner()
SITE = "eu-west-fr-00001"


def render(out: Path, *args: str) -> str:
    result = runner.invoke(app, ["render", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rendering_is_byte_identical_across_runs(tmp_path: Path) -> None:
    for delivery in ("flux", "pulumi"):
        render(tmp_path / "a", "--env", "dev", "--delivery", delivery)
        render(tmp_path / "b", "--env", "dev", "--delivery", delivery)
        first = tree(tmp_path / "a")
        assert first == tree(tmp_path / "b") and len(first) > 10
        render(tmp_path / "a", "--env", "dev", "--delivery", delivery)  # over an earlier bundle: replaced
        assert tree(tmp_path / "a") == first


def test_flux_bundle_objects_are_valid_and_listed(tmp_path: Path) -> None:
    validate = validator()
    render(tmp_path, "--env", "edge", "--cluster", SITE)
    folder = tmp_path / SITE
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(
        p.name for p in folder.glob("*.yaml") if p.name not in {"kustomization.yaml", "strata-bundle.yaml"}
    )
    objects = [o for name in listed for o in yaml.safe_load_all((folder / name).read_text())]
    for obj in objects:
        if obj["kind"] != "Namespace":
            validate(obj)
    # the program registers the very same objects (tests/test_flux_delivery.py checks that side)
    [cp] = plan_environment("edge", SITE).clusters
    assert objects == flux_bundle(cp.plan, cp.drift).objects()
    manifest = folder / "manifests" / "envoy-gateway-class"
    assert (manifest / "gatewayclass.yaml").read_bytes() == (
        Path(cp.plan.pack("envoy-gateway-class").folder) / "gatewayclass.yaml"
    ).read_bytes()
    marker = yaml.safe_load((folder / "strata-bundle.yaml").read_text())
    assert marker["delivery"] == "flux" and marker["controllers"][0]["pack"] == "flux2@2.18.3"


def test_no_secret_value_is_ever_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prod reads Grafana's password from GRAFANA_ADMIN_PASSWORD: the bundle names the Secret, never the value."""
    value = "s3cret-Value-that-must-not-leak"
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", value)
    for delivery in ("flux", "pulumi"):
        render(tmp_path / delivery, "--env", "prod", "--delivery", delivery)
        files = tree(tmp_path / delivery)
        assert not [name for name, data in files.items() if value.encode() in data]
        assert not [name for name, data in files.items() if b"{{ secret." in data or b"{{ identity." in data]
    marker = yaml.safe_load((tmp_path / "flux" / "prod-eks-eu" / "strata-bundle.yaml").read_text())
    secrets = {s["name"]: s for s in marker["secrets"]}
    grafana = secrets["kube-prometheus-stack-strata-values"]
    assert grafana["keys"] == ["values.yaml"] and grafana["fills"] == ["secret.grafana_admin_password"]
    assert "external-dns-strata-values" in secrets  # its IRSA role ARN is only known at deploy time


def test_both_renders_show_the_same_plan(tmp_path: Path) -> None:
    render(tmp_path / "flux", "--env", "local", "--delivery", "flux")
    render(tmp_path / "pulumi", "--env", "local", "--delivery", "pulumi")
    charts = yaml.safe_load((tmp_path / "pulumi" / "local" / "helm-charts.yaml").read_text())["charts"]
    flux = tmp_path / "flux" / "local"
    releases = [
        o
        for name in yaml.safe_load((flux / "kustomization.yaml").read_text())["resources"]
        for o in yaml.safe_load_all((flux / name).read_text())
        if o["kind"] == "HelmRelease"
    ]
    assert [c["name"] for c in charts] == [r["metadata"]["name"] for r in releases]
    assert [c["values"] for c in charts] == [r["spec"].get("values", {}) for r in releases]


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / SITE).mkdir()
    (tmp_path / SITE / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["render", "--env", "edge", "--cluster", SITE, "--out", str(tmp_path)])
    assert result.exit_code == 1 and "is not a strata bundle" in result.stderr
    assert (tmp_path / SITE / "notes.txt").read_text() == "mine"


def test_bad_environment_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "--env", "nope", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "no environment 'nope'" in result.stderr
    assert not (tmp_path / "out").exists()


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_DATA)
def test_the_yaml_written_reads_back_as_the_same_data(data: object) -> None:
    """Any value a pack may carry (strings that look like numbers, booleans or dates, unicode, control
    characters, exponent floats) reads back from a bundle exactly as planned."""
    assert yaml.safe_load(dump(data)) == data


def test_manifest_packs_follow_the_environments_bundle_source(tmp_path: Path) -> None:
    """A site syncing its bundle from an OCI artifact (or a GitRepository not named flux-system) gets manifest
    Kustomizations pointing at that source; flux-system, `flux bootstrap`'s name, is the default."""
    import shutil

    from stacks.environment import CONFIG_DIR

    def source_ref(out: Path, *extra: str) -> dict[str, str]:
        render(out, "--env", "edge", "--cluster", SITE, *extra)
        (doc,) = yaml.safe_load_all((out / SITE / "envoy-gateway-class.yaml").read_text())
        validator()(doc)
        return dict(doc["spec"]["sourceRef"])

    assert source_ref(tmp_path / "default") == {
        "kind": "GitRepository",
        "name": "flux-system",
        "namespace": "flux-system",
    }
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    env = config / "Pulumi.edge.yaml"
    doc = yaml.safe_load(env.read_text())
    doc["config"]["strata:bundle_source"] = {"kind": "OCIRepository", "name": "site-bundle"}
    env.write_text(yaml.safe_dump(doc))
    ref = source_ref(tmp_path / "oci", "--config-dir", str(config))
    assert ref == {"kind": "OCIRepository", "name": "site-bundle", "namespace": "flux-system"}
    doc["config"]["strata:bundle_source"] = {"kind": "Bucket", "name": "site-bundle"}
    env.write_text(yaml.safe_dump(doc))
    bad = runner.invoke(app, ["render", "--env", "edge", "--out", str(tmp_path / "bad"), "--config-dir", str(config)])
    assert bad.exit_code == 1 and 'strata:bundle_source".kind' in bad.output and "Traceback" not in bad.output


def test_a_delivery_that_does_not_apply_writes_nothing_and_names_every_cluster(tmp_path: Path) -> None:
    """--delivery flux on clusters whose profiles already install Flux: every such cluster is named, and not a
    single folder is written (a half-rendered fleet committed to Git would be worse than none)."""
    from stacks.environment import CONFIG_DIR

    config = tmp_path / "config"
    config.mkdir()
    text = (CONFIG_DIR / "Pulumi.dev.yaml").read_text()
    flux = "profiles: [cloud-standard@1.1.0, observability@1.1.0, flux-delivery@1.0.0]"
    (config / "Pulumi.dev.yaml").write_text(text.replace("profiles: [cloud-standard@1.1.0, observability@1.1.0]", flux))
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", "--env", "dev", "--delivery", "flux", "--out", str(out),
                                 "--config-dir", str(config)])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("also lists") == 3, result.stderr
    assert not out.exists() or not any(out.iterdir())
