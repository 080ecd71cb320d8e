"""Errors that name the file and the field path, collected rather than raised one at a time.

A platform team fixing an environment wants every mistake in one run, each pointing at the exact place
to edit; a traceback points at strata's code instead. Everything that reads user input reports through
:class:`PlanError` and raises :class:`PlanErrors` once, before anything is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from packs import yamlio

SOURCE_KINDS = frozenset({"helm", "manifests", "managed"})


@dataclass(frozen=True, order=True)
class PlanError:
    """One problem: where (file, field path), what, and for which cluster when it is cluster-specific."""

    file: str
    path: str
    message: str
    cluster: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        who = f" [cluster {self.cluster}]" if self.cluster else ""
        return f"{where}: {self.message}{who}"

    def as_dict(self) -> dict[str, str | None]:
        return {"file": self.file, "path": self.path, "message": self.message, "cluster": self.cluster}


class PlanErrors(Exception):
    """Every problem found; raised only after all input has been examined."""

    def __init__(self, errors: Iterable[PlanError]) -> None:
        self.errors = sorted(set(errors), key=lambda e: (e.file, e.cluster or "", e.path, e.message))
        super().__init__("\n".join(str(e) for e in self.errors))


def join_path(prefix: str, loc: Sequence[Any]) -> str:
    """Render a pydantic ``loc`` under ``prefix`` as ``a.b[2].c``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def from_validation(
    exc: ValidationError,
    file: str,
    prefix: str = "",
    cluster: str | None = None,
    union_tags: Iterable[str] = (),
) -> list[PlanError]:
    """Translate pydantic's errors into ours, dropping the tagged-union noise from ``loc``.

    Pydantic puts the discriminator value of a tagged union into ``loc`` (``edge`` in ``edge.hosts[0]``,
    ``helm`` in ``source.helm.version``); the user never wrote it, so it is not part of the path.
    ``union_tags`` are such values at the top of ``loc``; pack source kinds are always dropped.
    """
    tags = set(union_tags)
    errors = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        if loc and loc[0] in tags:
            loc = loc[1:]
        loc = [p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "source" and p in SOURCE_KINDS)]
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see the documented fields)"
        errors.append(PlanError(file, join_path(prefix, loc), message, cluster))
    return errors


def load_yaml(path: Path, display: str) -> Any:
    """Parse a YAML file; a syntax error becomes a PlanError with line and column."""
    try:
        return yamlio.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PlanErrors([PlanError(display, where, f"malformed YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise PlanErrors([PlanError(display, "", f"malformed YAML: {exc}")]) from None
    except OSError as exc:
        raise PlanErrors([PlanError(display, "", f"cannot read: {exc.strerror}")]) from None
