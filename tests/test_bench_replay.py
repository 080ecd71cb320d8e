"""The program benchmark's floor is honest: the replay registers the program's graph, request by request.

A replay that dropped an option, a dependency or a secret would be cheaper than the program for the wrong
reason and flatter the ratio; these tests run the real program and its replay (one site, in fresh
interpreters, as the benchmark does) and check the comparison itself catches a changed graph.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.proto import resource_pb2

from bench.harness import ROOT
from bench.program_bench import RECORDING, prepare
from bench.replay import Recording, differences, load

#: What the fixture records: the program's measurement, the replay's, and the program's recording.
Recorded = tuple[dict[str, Any], dict[str, Any], Recording]
#: A change made to one recorded request.
Edit = Callable[[resource_pb2.RegisterResourceRequest], object]


def _child(config: Path, measure: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.program_bench", "--child", str(config), "--measure", measure],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    measured: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return measured


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    config = prepare(1, tmp_path_factory.mktemp("bench"))
    program = _child(config, "program")
    replay = _child(config, "replay")
    return program, replay, Recording.read(config.parent / RECORDING)


def test_the_replay_is_the_programs_graph(recorded: Recorded) -> None:
    program, replay, recording = recorded
    assert replay["differences"] == []
    assert program["resources"] == replay["resources"] >= 10  # a whole site: cluster, provider, packs
    kinds = {_request(blob).type for kind, blob in recording.records if kind == "register"}
    assert {"command:remote:Command", "pulumi:providers:kubernetes", "kubernetes:helm.sh/v4:Chart"} <= kinds
    # The kubeconfig went on the wire as a secret, and the export holding it stayed secret.
    assert all(entry.secret for entry in recording.exports["clusters"].values())


def _request(blob: bytes) -> resource_pb2.RegisterResourceRequest:
    request = resource_pb2.RegisterResourceRequest()
    request.ParseFromString(blob)
    return request


def _changed(recording: Recording, edit: Edit) -> list[tuple[str, bytes]]:
    """The recording with ``edit`` applied to the first provider registration."""
    records = list(recording.records)
    for i, (kind, blob) in enumerate(records):
        request = _request(blob) if kind == "register" else None
        if request is not None and request.type.startswith("pulumi:providers:"):
            edit(request)
            records[i] = (kind, request.SerializeToString())
            return records
    raise AssertionError("no provider registered")


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.object.fields["clusterIdentifier"].__setattr__("string_value", "other"),
        lambda r: r.dependencies.pop(),
        lambda r: r.__setattr__("deleteBeforeReplace", True),
        lambda r: r.additionalSecretOutputs.append("kubeconfig"),
    ],
    ids=["input", "dependency", "option", "secret-output"],
)
def test_a_changed_graph_is_reported(recorded: Recorded, edit: Edit) -> None:
    _, _, recording = recorded
    assert differences(recording.records, recording.records) == []
    assert differences(recording.records, _changed(recording, edit))


def test_options_the_replay_cannot_reproduce_are_refused(recorded: Recorded) -> None:
    _, _, recording = recorded
    records = _changed(recording, lambda r: r.replace_with.append("urn:pulumi:bench::strata::x::y"))
    with pytest.raises(ValueError, match="replay does not reproduce"):
        load(Recording(records, recording.exports, recording.unset))
