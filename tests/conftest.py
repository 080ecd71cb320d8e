"""Shared fixtures: Pulumi mocks per test, and the repository root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest

from tests.mocks import GraphMocks, install, settle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mocks() -> Iterator[GraphMocks]:
    """A fresh recording mock engine (and event loop) for one test.

    Drained afterwards: a test that registers nothing would otherwise leave the root stack registration
    pending on its loop, and the next test's registrations would never reach its monitor.
    """
    m = GraphMocks()
    install(m)
    pulumi.runtime.set_all_config({})
    yield m
    settle()


@pytest.fixture
def root() -> Path:
    return ROOT
