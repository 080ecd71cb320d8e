"""An existing stack must see no replacement after a refactor of the components: every shipped environment's
program registers exactly the URNs (and so the types, parents and names) recorded in ``tests/data/urns.json``.

A URN that changes is, for the engine, one resource deleted and another created: a Helm chart uninstalled and
installed again, a cluster replaced. The snapshot was taken before the delivery strategies and installers were
split into their own modules, and holds them to it. A change that *means* to move a resource needs an alias
(``components/lifecycle.py``) and a new snapshot: ``python -m tests.test_urn_stability`` rewrites it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.test_cluster_existing import KUBECONFIG
from tests.test_environments import EDGE_KEY, GRAFANA_PASSWORD, run_stack

SNAPSHOT = Path(__file__).parent / "data" / "urns.json"
#: (stack, environment, read the stack's own config file): every target and both deliveries.
STACKS = [
    ("local", "local", True),
    ("dev", "dev", True),
    ("prod.prod-eks-eu", "prod", False),
    ("prod.prod-aks-eu", "prod", False),
    ("prod.prod-gke-us", "prod", False),
    ("edge.eu-west-fr-00001", "edge", False),
    ("management", "management", True),
]
#: Read-only references the program makes to stacks (its own last outputs); they are not managed resources.
_READS = ("pulumi:pulumi:StackReference",)


def urns(stack: str, env: str, with_config: bool) -> list[str]:
    mocks, _ = run_stack(stack, env, with_config)
    return sorted({r.urn for r in mocks.resources if r.typ not in _READS})


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SSH_KEY", EDGE_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)
    monkeypatch.setenv("MANAGEMENT_KUBECONFIG", KUBECONFIG)


@pytest.mark.parametrize(("stack", "env", "with_config"), STACKS, ids=[s for s, _, _ in STACKS])
def test_the_program_registers_the_same_urns(stack: str, env: str, with_config: bool) -> None:
    expected = json.loads(SNAPSHOT.read_text())[stack]
    now = urns(stack, env, with_config)
    gone = sorted(set(expected) - set(now))
    new = sorted(set(now) - set(expected))
    assert not gone and not new, (
        f"stack {stack}: a deployed stack would see {len(gone)} resource(s) deleted and {len(new)} created.\n"
        "deleted:\n  " + "\n  ".join(gone) + "\ncreated:\n  " + "\n  ".join(new)
    )


def main() -> None:
    import os

    os.environ.setdefault("EDGE_SSH_KEY", EDGE_KEY)
    os.environ.setdefault("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)
    os.environ.setdefault("MANAGEMENT_KUBECONFIG", KUBECONFIG)
    snapshot = {stack: urns(stack, env, with_config) for stack, env, with_config in STACKS}
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT} ({sum(len(v) for v in snapshot.values())} URNs)", file=sys.stderr)


if __name__ == "__main__":
    main()
