"""Value paths: the addresses of leaves in a Helm-style values tree.

A path is written ``controller.replicaCount``; a key that itself contains a dot (annotations such as
``eks.amazonaws.com/role-arn``) is quoted: ``serviceAccount.annotations["eks.amazonaws.com/role-arn"]``.
Maps merge key by key and lists are leaves, exactly as Helm merges values, so provenance and locks speak
about the same units Helm does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str, ...]

_PLAIN = re.compile(r"[A-Za-z0-9_\-/]+")
_TOKEN = re.compile(r'\.?([A-Za-z0-9_\-/]+)|\[("(?:[^"\\]|\\.)*")\]')


def parse_path(text: str) -> Path:
    """Parse ``a.b["c.d"]`` into ``("a", "b", "c.d")``; raise ValueError naming the problem."""
    if not text:
        raise ValueError("empty value path")
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or (pos == 0 and text.startswith(".")):
            raise ValueError(f"malformed value path {text!r} at character {pos}")
        if match.group(1) is not None:
            if pos > 0 and not text.startswith(".", pos):
                raise ValueError(f"malformed value path {text!r} at character {pos}")
            parts.append(match.group(1))
        else:
            parts.append(json.loads(match.group(2)))
        pos = match.end()
    return tuple(parts)


def format_path(path: Path) -> str:
    """The inverse of :func:`parse_path`; the canonical spelling used in errors, locks and provenance."""
    out: list[str] = []
    for part in path:
        if _PLAIN.fullmatch(part):
            out.append(("." if out else "") + part)
        else:
            out.append("[" + json.dumps(part) + "]")
    return "".join(out)


def leaves(tree: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every leaf of a values tree with its path; an empty map is a leaf (it can be set and locked)."""
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaves(value, path)
        else:
            yield path, value


def get(tree: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path``; KeyError when any segment is missing."""
    node: Any = tree
    for part in path:
        if not isinstance(node, Mapping):
            raise KeyError(path)
        node = node[part]
    return node


def with_value(tree: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``tree`` with ``value`` at ``path``, sharing every untouched branch.

    Copy-on-write keeps per-cluster resolution cheap: ten thousand clusters of one profile share all the
    values they do not change.
    """
    head, rest = path[0], path[1:]
    new = dict(tree)
    if rest:
        child = tree.get(head)
        new[head] = with_value(child if isinstance(child, dict) else {}, rest, value)
    else:
        new[head] = value
    return new


def is_prefix(prefix: Path, path: Path) -> bool:
    return path[: len(prefix)] == prefix
