"""Physical names that change exactly when a replacement is forced (pure: the offline plan checks name lengths).

See components/lifecycle.py for the rule these names serve: a node pool is replaced create-before-delete under
a new physical name, so capacity never drops.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Characters of a replacement digest: lowercase letters and digits fit every cloud's pool-name rules.
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
#: Five base-36 characters: 60 million values, so two configurations of one pool practically never share a name.
DIGEST_LENGTH = 5


def replacement_digest(fields: Mapping[str, Any], length: int = DIGEST_LENGTH) -> str:
    """A short, stable base-36 digest of ``fields`` (same fields, same digest, in every process)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    out = []
    for _ in range(length):
        number, rest = divmod(number, len(_ALPHABET))
        out.append(_ALPHABET[rest])
    return "".join(out)


def pool_name(pool: str, forcing: Mapping[str, Any], max_length: int, separator: str = "-") -> str:
    """The physical name of a node pool: its name and a digest of the fields whose change forces replacement.

    A new machine type, disk or node image gives a new name, so the replacement is created next to the old
    pool (capacity never drops) instead of failing on a name the old pool still holds. The name is cut to
    fit ``max_length``; the digest also covers the full pool name, so two pools sharing a prefix still differ.
    """
    digest = replacement_digest({"pool": pool, **forcing})
    room = max_length - len(separator) - len(digest)
    if room < 1:
        raise ValueError(f"no room for a pool name in {max_length} characters")
    return f"{pool[:room].rstrip('-')}{separator}{digest}"
