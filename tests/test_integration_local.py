"""`pulumi up` of the `local` environment through the Automation API, with a file backend.

Needs the Pulumi CLI (and the kubernetes provider plugin it downloads); skipped with the reason when the CLI
is absent. No cloud account is needed: the local environment renders every pack's manifests to a directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stacks.pulumi_cli import missing_message

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
needs_cli = pytest.mark.skipif(
    shutil.which("pulumi") is None, reason=missing_message("`pulumi up` of the local environment")
)


@needs_cli
def test_local_environment_renders_the_layered_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks.plan import plan_environment
    from stacks.pulumi_cli import local_stack

    backend = tmp_path / "state"
    backend.mkdir()
    render = tmp_path / "rendered"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{backend}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "integration-test")
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "integration-test-password")
    work = tmp_path / "project"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "out", "__pycache__"))
    env_file = work / "stacks/config/Pulumi.local.yaml"
    env_file.write_text(env_file.read_text().replace("render_dir: out/{cluster}", f"render_dir: {render}/{{cluster}}"))

    stack = local_stack("local", work, env_vars={"PULUMI_BACKEND_URL": f"file://{backend}"})
    stack.workspace.install_plugin("kubernetes", _plugin_version())
    result = stack.up(on_output=print, color="never")
    assert result.summary.result == "succeeded"
    outputs = stack.outputs()
    assert outputs["clusters"].secret  # the kubeconfig inside makes the whole contract secret
    plan = plan_environment("local", config_dir=work / "stacks/config")
    files = {p.name for p in (render / "local").rglob("*.yaml")}
    assert files, "nothing was rendered"
    for pack in plan.clusters[0].plan.packs:
        if pack.namespace and pack.source.kind == "helm":
            assert any(pack.namespace in name for name in files), f"no manifests for {pack.ref}"
    # A second run is a no-op: deterministic values mean no perpetual diff.
    preview = stack.preview(color="never")
    assert set(preview.change_summary) <= {"same"}
    stack.destroy(color="never")


def _plugin_version() -> str:
    from importlib.metadata import version

    return "v" + version("pulumi-kubernetes")
