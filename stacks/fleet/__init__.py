"""Fleet operations on Pulumi's Automation API: ``strata fleet ...`` and :class:`Fleet` for pipelines.

Imported lazily so that ``strata plan`` (which registers the ``fleet`` commands) loads no Pulumi.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Fleet", "FleetReport", "Outcome", "RunOptions"]


def __getattr__(name: str) -> Any:
    if name == "Fleet":
        from stacks.fleet.api import Fleet

        return Fleet
    if name in ("FleetReport", "Outcome", "RunOptions"):
        from stacks.fleet import model

        return getattr(model, name)
    raise AttributeError(name)
