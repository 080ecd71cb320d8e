"""YAML through libyaml where that changes nothing but the speed.

PyYAML's pure-Python scanner and emitter cost milliseconds per document; a fleet stack parses and writes a
kubeconfig and a k3s config per site, and every run loads the whole catalogue. libyaml (PyYAML's C
extension) does the same work about ten times faster, but it is not a drop-in everywhere:

- loading: the C parser yields the same data, but its error messages are worded differently. A document the
  C parser refuses is therefore parsed again by the pure-Python loader, so a user sees exactly the error
  (text, line and column) they always saw.
- dumping: the C emitter folds long double-quoted scalars and writes keys that need escapes differently.
  Text strata writes ends up in resource inputs (a kubeconfig, a k3s config file), and one changed byte is a
  diff on every site at the next ``pulumi up``. So the C emitter is used only for documents whose every
  string is printable ASCII (no escapes, nothing to fold as quoted text), where its output is byte-identical;
  anything else goes through the pure-Python emitter, as before.

Without libyaml (a PyYAML built without it) everything falls back to the pure-Python classes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

_C_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)
_C_DUMPER: type[Any] | None = getattr(yaml, "CSafeDumper", None)
_PRINTABLE_ASCII = re.compile(r"[ -~]*")


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` of a whole document, through libyaml; what libyaml refuses gets the pure-Python error."""
    if _C_LOADER is not None:
        try:
            return yaml.load(text, Loader=_C_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.load(text, Loader=yaml.SafeLoader)


def _plain(data: Any) -> bool:
    """Every string printable ASCII and no key empty: the documents libyaml writes exactly as PyYAML does."""
    if isinstance(data, str):
        return _PRINTABLE_ASCII.fullmatch(data) is not None
    if isinstance(data, Mapping):
        return all(k != "" and _plain(k) and _plain(v) for k, v in data.items())
    if isinstance(data, list | tuple):
        return all(_plain(v) for v in data)
    return True


def safe_dump(data: Any, **options: Any) -> str:
    """``yaml.safe_dump`` to a string, byte for byte; through libyaml when that cannot change the text."""
    dumper = _C_DUMPER if _C_DUMPER is not None and isinstance(data, Mapping) and data and _plain(data) else None
    text: str = yaml.dump(data, Dumper=dumper or yaml.SafeDumper, **options)
    return text


__all__ = ["safe_dump", "safe_load"]
