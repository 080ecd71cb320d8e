"""What a user gets wrong at the command line, and what strata must answer: the mistake, where, and the fix,
with exit code 1 and no traceback. Each test is one mistake found by using the CLI as documented."""

from __future__ import annotations

import json

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
