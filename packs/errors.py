"""Errors that name the file and the field path, collected rather than raised one at a time.

A platform team fixing an environment wants every mistake in one run, each pointing at the exact place
to edit; a traceback points at strata's code instead. Everything that reads user input reports through
:class:`PlanError` and raises :class:`PlanErrors` once, before anything is built.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from packs import yamlio
from packs.model import DNS_LABEL

SOURCE_KINDS = frozenset({"helm", "manifests", "managed"})



def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'cert-manager'?"`` for the closest known name(s), or ``""`` when none is close.

    Most unknown names are typos of a known one; naming it turns a search through the catalogue into a
    one-character fix.
    """
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


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


def _follows_from_items(err: Any, found: Sequence[Any]) -> bool:
    """A "should have at least N items after validation, not 0" error that only repeats another one.

    Pydantic checks a collection's length on the items that validated, so one invalid host in ``hosts:`` (at
    least one) is reported twice: the host's own field, then the list as empty. The user gave the items; the
    mistake is the item's, and that error is reported already.
    """
    if err["type"] != "too_short":
        return False
    given, wanted = err.get("input"), (err.get("ctx") or {}).get("min_length")
    if not isinstance(given, Sized) or isinstance(given, str | bytes | Mapping) or not isinstance(wanted, int):
        return False
    loc = tuple(err["loc"])
    inside = any(other is not err and tuple(other["loc"])[: len(loc)] == loc for other in found)
    return len(given) >= wanted and inside


def from_validation(
    exc: ValidationError,
    file: str,
    prefix: str = "",
    cluster: str | None = None,
    union_tags: Iterable[str] = (),
    model: Any = None,
) -> list[PlanError]:
    """Translate pydantic's errors into ours: the path as the user wrote it, the message as a fix.

    Pydantic puts the discriminator value of a tagged union into ``loc`` (``edge`` in ``edge.hosts[0]``,
    ``helm`` in ``source.helm.version``); the user never wrote it, so it is not part of the path.
    ``union_tags`` are such values at the top of ``loc``; pack source kinds are always dropped. ``model``
    (the type that was validated, after the union tag) lets an unknown field name its closest known one.
    """
    tags = set(union_tags)
    errors = []
    found = exc.errors(include_url=False)
    for err in found:
        if _follows_from_items(err, found):
            continue
        loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        if loc and loc[0] in tags:
            loc = loc[1:]
        loc = [p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "source" and p in SOURCE_KINDS)]
        message = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind == "missing" and loc:
            message = f"missing; {loc[-1]} is required here"
        elif kind == "extra_forbidden":
            name = str(loc[-1]) if loc else ""
            known = _fields_at(model, loc[:-1])
            hint = did_you_mean(name, known) if known else ""
            message = "unknown field" + (hint or "; check the spelling against the documented fields")
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            field = str(ctx.get("discriminator", "")).strip("'")
            expected = ", ".join(re.findall(r"'([^']+)'>", str(ctx.get("expected_tags", "")))) or ", ".join(
                sorted(tags)
            )
            loc = [*loc, field] if field else loc
            if kind == "union_tag_not_found":
                message = f"missing; give one of {expected}" if expected else "missing"
            else:
                tag = str(ctx.get("tag", ""))
                message = f"unknown {field or 'value'} {tag!r}; use one of {expected}" + did_you_mean(
                    tag, expected.split(", ")
                )
        elif kind == "string_type" and isinstance(err.get("input"), int | float) and not isinstance(err["input"], bool):
            message = _quote_hint(err["input"], str(loc[-1]) if loc else "")
        elif (wrong_type := _type_hint(kind, err.get("input"), str(loc[-1]) if loc else "", ctx)) is not None:
            message = wrong_type
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") == DNS_LABEL:
            message = (
                f"{err.get('input')!r} is not a DNS label: use 1-63 lowercase letters, digits and '-', starting "
                "and ending with a letter or digit"
            )
        errors.append(PlanError(file, join_path(prefix, loc), message, cluster))
    return errors


_LISTS = ("list_type", "tuple_type", "set_type", "frozen_set_type")
_MAPS = ("dict_type", "model_type", "model_attributes_type", "mapping_type")


def _kind_of(value: Any) -> str:
    """What YAML made of a value, in the words of a YAML file."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping (key: value)"
    return type(value).__name__


def _type_hint(kind: str, value: Any, field: str, ctx: Mapping[str, Any]) -> str | None:
    """A wrong type said as what was written and what to write instead; None to keep pydantic's words.

    Pydantic says "Input should be a valid tuple"; a user wrote a YAML file, where a list, a mapping and
    a quoted value are what they can change.
    """
    if value is None and (kind.endswith("_type") or kind in _MAPS):
        return "has no value (YAML reads an empty value as null); give one, or remove the key if it is optional"
    if kind in _LISTS:
        example = f"{field}: [{value}]" if isinstance(value, str) and field else "[a, b]"
        return f"expected a list, got {_kind_of(value)}; write a list, e.g. {example}"
    if kind in _MAPS:
        if ctx.get("class_name") == "SecretRef":
            # Echo the value only when it is plainly a path: anything else may be the secret itself.
            path_like = isinstance(value, str) and re.fullmatch(r"~?[\w./-]{1,200}", value) and "/" in value
            source = f"{{file: {value}}}" if path_like else "{env: NAME}"
            return (
                f"a secret is given by reference, never as a value: write {field or 'it'}: {source} "
                "(or {env: NAME}, {file: path}, {config: key} for a `pulumi config set --secret` value)"
            )
        return f"expected a mapping (key: value), got {_kind_of(value)}"
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return _choice_hint(value, _choices(str(ctx["expected"])))
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_kind_of(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {_kind_of(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {_kind_of(value)}"
    return None


def _choices(expected: str) -> list[str]:
    """The allowed values of pydantic's ``expected`` (``"'a', 'b' or 'c'"``, or ``"1 or 2"``), as written in YAML."""
    quoted = re.findall(r"'([^']*)'", expected)
    if quoted:
        return quoted
    return [c.strip() for c in re.split(r",\s*|\s+or\s+", expected) if c.strip()]


#: What YAML 1.1 reads as true and as false when unquoted (``mode: off`` is ``mode: false``).
_YAML_BOOLEANS = {True: frozenset({"on", "yes", "y", "true"}), False: frozenset({"off", "no", "n", "false"})}


def _choice_hint(value: Any, choices: Sequence[str]) -> str:
    """A value outside a fixed set: the value given, every allowed one and the closest.

    Pydantic says "Input should be 'environment' or 'cluster'"; the user needs what they wrote (a YAML file may
    have turned it into something else) and which one they most likely meant.
    """
    allowed = ", ".join(choices)
    if isinstance(value, bool):
        meant = [c for c in choices if c.lower() in _YAML_BOOLEANS[value]]
        quote = f'; YAML reads an unquoted {meant[0]} as {_kind_of(value)}: quote it ("{meant[0]}")' if meant else ""
        return f"unknown value {str(value).lower()}; use one of {allowed}{quote}"
    shown = repr(value) if isinstance(value, str) else str(value)
    return f"unknown value {shown}; use one of {allowed}" + did_you_mean(str(value), choices)


def _quote_hint(value: float, field: str) -> str:
    """``1.30 was read as a number; quote it``: YAML reads an unquoted ``1.30`` as the number 1.3."""
    shown = str(value)
    if isinstance(value, float) and "version" in field and re.fullmatch(r"\d+\.\d", shown):
        shown += "0"  # a Kubernetes minor version: 1.3 is what YAML made of 1.30
    example = f'{field}: "{shown}"' if field and not field.isdigit() else f'"{shown}"'
    return f"{shown} was read as a number; quote it ({example}) so it stays text"


def _fields_at(model: Any, loc: Sequence[Any]) -> list[str]:
    """The field names (as written, aliases included) of the model found at ``loc`` under ``model``."""
    current = _model_in(model)
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)),
            None,
        )
        current = _model_in(field.annotation) if field is not None else None
    if current is None:
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation (``X | None``, ``tuple[X, ...]``, ``dict[str, X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def load_yaml(path: Path, display: str) -> Any:
    """Parse a YAML file; a syntax error becomes a PlanError with line, column and the offending line."""
    try:
        return yamlio.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = f"malformed YAML: {exc.problem}"
        context = exc.context_mark
        if exc.context and context is not None and (mark is None or context.line != mark.line):
            message += f" ({exc.context} at line {context.line + 1}: {_line(path, context.line)!r})"
        if mark is not None and _line(path, mark.line):
            message += f"\n    {_line(path, mark.line)}\n    {' ' * mark.column}^"
        raise PlanErrors([PlanError(display, where, message)]) from None
    except yaml.YAMLError as exc:
        raise PlanErrors([PlanError(display, "", f"malformed YAML: {exc}")]) from None
    except UnicodeDecodeError:
        raise PlanErrors([PlanError(display, "", "is not UTF-8 text; save it as UTF-8")]) from None
    except OSError as exc:
        raise PlanErrors([PlanError(display, "", f"cannot read: {exc.strerror}")]) from None


def _line(path: Path, index: int) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return lines[index].rstrip() if 0 <= index < len(lines) else ""
