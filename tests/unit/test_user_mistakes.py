"""What a user gets wrong at the command line, and what strata must answer: the mistake, where, and the fix,
with exit code 1 and no traceback. Each test is one mistake found by using the CLI as documented."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner, Result

from stacks.cli import app

runner = CliRunner()


def refused(result: Result) -> str:
    """Exit 1 through strata's own error path (a crash would also exit 1 under the runner); the stderr."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result.stderr


def test_a_mistyped_cluster_name_suggests_the_closest_sites() -> None:
    """In a fleet of 240 sites the ten names listed are not the one meant; the closest names are."""
    for command in (["plan"], ["check"], ["check", "--pulumi-config"]):
        result = runner.invoke(app, [*command, "--env", "edge", "--cluster", "eu-west-fr-0001"])
        stderr = refused(result)
        assert "no cluster 'eu-west-fr-0001' in environment edge" in stderr, command
        assert "did you mean 'eu-west-fr-00001'" in stderr, command


def test_check_says_errors_are_what_stops_it() -> None:
    """An environment that does not plan has no mandatory findings: the summary must not send the user
    looking for them."""
    last = refused(runner.invoke(app, ["check", "--env", "local", "--cluster", "nope"])).strip().splitlines()[-1]
    assert "1 error(s) above" in last and "mandatory ones" not in last, last
    doc = json.loads(runner.invoke(app, ["check", "--env", "local", "--cluster", "nope", "--json"]).stdout)
    assert doc["passed"] is False and doc["summary"]["errors"] == 1


def test_an_output_folder_that_cannot_be_written_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """``--out`` naming a file (or a read-only or full disk): the path, the reason, what to do."""
    blocker = tmp_path / "out"
    blocker.write_text("not a folder\n")
    for command in (["render", "--env", "local"], ["operator", "render", "--env", "edge"]):
        stderr = refused(runner.invoke(app, [*command, "--out", str(blocker)]))
        assert f"error: {blocker}" in stderr and "cannot write:" in stderr and "choose another --out" in stderr


def test_render_asks_for_site_secrets_only_for_flux_bundles(tmp_path: Path) -> None:
    """``local`` delivers with Pulumi: its bundle lists no Secrets, so the summary must not ask for any."""
    result = runner.invoke(app, ["render", "--env", "local", "--out", str(tmp_path / "pulumi")])
    assert result.exit_code == 0, result.output
    assert "secrets: []" in (tmp_path / "pulumi" / "local" / "strata-bundle.yaml").read_text()
    assert "must hold the Secrets" not in result.stdout
    result = runner.invoke(app, ["render", "--env", "local", "--delivery", "flux", "--out", str(tmp_path / "flux")])
    assert result.exit_code == 0, result.output
    assert "kube-prometheus-stack-strata-values" in (tmp_path / "flux" / "local" / "strata-bundle.yaml").read_text()
    assert "must hold the Secrets listed in its strata-bundle.yaml (kube-prometheus-stack-strata-values)" in (
        result.stdout
    )


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_help_shows_every_option_in_full() -> None:
    """``--help`` is the documentation at hand: every option's text must reach the screen whole (square
    brackets in it are console markup and used to vanish, defaults and all)."""
    root = typer.main.get_command(app)
    seen = 0
    for path, command in _commands(root):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
        assert result.exit_code == 0, (path, result.output)
        shown = " ".join(result.stdout.replace("│", " ").split())
        if path:
            assert (command.help or "").split("\n")[0].strip()[:60] in shown, path
        for param in command.params:
            text = " ".join((getattr(param, "help", None) or "").split())
            assert text in shown, (path, param.name, text)
            seen += bool(text)
    assert seen > 40


def test_envs_of_a_folder_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    """An empty listing would say "no environments yet" about a mistyped --config-dir."""
    stderr = refused(runner.invoke(app, ["envs", "--config-dir", str(tmp_path / "confg")]))
    assert f"the config folder {tmp_path / 'confg'} does not exist" in stderr


def test_packs_show_suggests_the_closest_pack() -> None:
    stderr = refused(runner.invoke(app, ["packs", "show", "cert-manger"]))
    assert "no pack 'cert-manger' in the catalogue" in stderr and "did you mean 'cert-manager'?" in stderr
    stderr = refused(runner.invoke(app, ["packs", "show", "cert-manager@1.21.2"]))
    assert "did you mean '1.21.1'" in stderr, stderr


def test_ctrl_c_while_strata_starts_exits_130_without_a_traceback() -> None:
    """The interrupt is raised while the CLI is being imported, as when Ctrl-C comes in the first second."""
    code = """
import importlib.abc, sys
class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == 'typer':
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
from stacks.entry import main
main()
"""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr


def test_the_strata_executable_is_the_interrupt_safe_entry_point() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["strata"] == "stacks.entry:main"


def test_exit_codes_are_the_documented_ones() -> None:
    """docs/cli.md: 1 for invalid input (with the JSON document on stdout), 2 for a command line strata cannot
    parse (nothing on stdout: a pipeline tells it from a fleet budget stop, which always reports)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    assert "| `2` | the command line itself is wrong" in doc
    invalid = runner.invoke(app, ["plan", "--env", "nope", "--json"])
    assert invalid.exit_code == 1 and json.loads(invalid.stdout)["errors"]
    for args in (["plan", "--json", "--bogus"], ["fleet", "up", "--env", "edge", "--json", "--canary", "x"]):
        usage = runner.invoke(app, args)
        assert usage.exit_code == 2 and usage.stdout == "", (args, usage.output)


def test_a_mistyped_select_key_or_value_suggests_the_closest_one() -> None:
    """``--select regoin=eu-west`` selects nothing because no cluster has that key: say so and name the key meant;
    a value no cluster has gets the closest value. One error per selector at fault, nothing run."""
    result = runner.invoke(app, ["fleet", "preview", "--env", "edge", "--select", "regoin=eu-west"])
    stderr = refused(result)
    assert "--select regoin=eu-west: no cluster of edge has a key 'regoin'" in stderr
    assert "did you mean 'region'?" in stderr
    result = runner.invoke(
        app, ["fleet", "preview", "--env", "edge", "--select", "region=eu-wets", "--select", "labels.teir=store"]
    )
    stderr = refused(result)
    assert "--select region=eu-wets: no cluster of edge has region=eu-wets; did you mean 'eu-west'" in stderr
    assert "key 'labels.teir'" in stderr and "did you mean 'labels.tier'" in stderr
    assert "2 error(s) in environment edge; nothing was run" in stderr
    # Each selector matches some cluster, just never the same one: that is what the error says.
    result = runner.invoke(
        app, ["fleet", "preview", "--env", "edge", "--select", "region=eu-west", "--select", "site=de-00002"]
    )
    assert "no cluster of edge matches region=eu-west site=de-00002 together" in refused(result)


def test_a_wrong_choice_names_the_value_the_choices_and_the_closest() -> None:
    """Literal and enum fields: pydantic's "Input should be 'a' or 'b'" never says what was written or what was
    meant; the one translation of its errors does, for text, numbers and what YAML turned into a boolean."""
    import enum
    from typing import Literal

    from pydantic import BaseModel, ValidationError

    from packs.errors import from_validation

    class Mode(enum.Enum):
        PULUMI = "pulumi"
        FLUX = "flux"

    class Settings(BaseModel):
        stacks: Literal["environment", "cluster"] = "cluster"
        delivery: Mode = Mode.PULUMI
        replicas: Literal[1, 3] = 1
        power: Literal["on", "off"] = "on"

    def said(**values: object) -> str:
        try:
            Settings.model_validate(values)
        except ValidationError as exc:
            (error,) = from_validation(exc, "f.yaml", "config")
            return str(error)
        raise AssertionError("accepted")

    assert said(stacks="clsuter") == (
        "f.yaml: config.stacks: unknown value 'clsuter'; use one of environment, cluster; did you mean 'cluster'?"
    )
    assert said(delivery="fluxx") == (
        "f.yaml: config.delivery: unknown value 'fluxx'; use one of pulumi, flux; did you mean 'flux'?"
    )
    assert said(replicas=2) == "f.yaml: config.replicas: unknown value 2; use one of 1, 3"
    assert said(power=False) == (
        'f.yaml: config.power: unknown value false; use one of on, off; YAML reads an unquoted off as the boolean '
        'false: quote it ("off")'
    )
