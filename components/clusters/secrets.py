"""Reading a :class:`~components.clusters.spec.SecretRef`: checked before anything is built, wrapped as a secret.

An environment file names *where* a credential lives (an environment variable, a file, a Pulumi config key),
never the credential itself, so the file can be committed and reviewed. The value is read once, synchronously,
before the first resource is registered: a missing SSH key or kubeconfig is then a plain ``ValueError`` that
names the field, the source and how to fix it, instead of a failure half-way through ``pulumi up`` on the first
host. Whatever leaves this module for the resource graph is wrapped with ``pulumi.Output.secret`` at the point
of reading, so it is encrypted in the state and masked in every diff.

This module imports no Pulumi at load time: the offline ``strata plan`` runs the very same checks, with a
``config`` lookup that reads the stack's config file instead of the Pulumi engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from components.clusters.spec import SecretRef

if TYPE_CHECKING:
    import pulumi

#: ``(namespace or None for the project, key) -> value``; returns :data:`SEALED` for a value that exists but
#: cannot be decrypted here (a ``secure:`` value seen by the offline plan), None when the key is not set.
ConfigLookup = Callable[[str | None, str], str | None]
SEALED = "\0sealed"


class SecretAbsent(ValueError):
    """The source is not there on this machine: an unset environment variable, a missing file, an unset key.

    A ``ValueError`` like every other secret problem; the offline plan reports it as something ``pulumi up``
    will need rather than as a mistake in the files, since a plan may run where the deploy's secrets are not.
    """


class SecretSealed(Exception):
    """The value exists but is encrypted for the Pulumi engine; its content can only be checked at deploy time."""


def describe(ref: SecretRef) -> str:
    """Where the secret comes from, for error messages (never its value)."""
    if ref.env is not None:
        return f"environment variable {ref.env}"
    if ref.file is not None:
        return f"file {ref.file}"
    return f"Pulumi config key {ref.config}"


def _config_key(key: str) -> tuple[str | None, str]:
    """``namespace:key`` -> (namespace, key); a bare key belongs to the current project, as in Pulumi itself."""
    namespace, sep, name = key.partition(":")
    if not sep:
        return None, key
    return namespace, name


def pulumi_config(namespace: str | None, key: str) -> str | None:
    """The running stack's config value (``secure:`` values decrypted by the engine)."""
    import pulumi

    return pulumi.Config(namespace).get(key)


def read_secret_value(
    ref: SecretRef, field: str, config: ConfigLookup | None = None, command: str = "pulumi up"
) -> str:
    """The plain value behind ``ref``; raises ``ValueError`` naming ``field``, the source and the fix.

    :class:`SecretAbsent` (a ``ValueError``) when the source is not there, :class:`SecretSealed` when the
    ``config`` lookup holds the value encrypted. ``config`` defaults to the running stack's configuration.
    ``command`` is what the user runs that needs the value (``pulumi up``, or a ``strata`` command that reads it
    itself): the fix names it, so it is the command the user typed.

    The plain text is returned (rather than only an Output) because some callers must *parse* it before any
    resource exists (the endpoint of an adopted kubeconfig, say). Anything derived from it that goes into the
    resource graph must go through :func:`read_secret` or ``pulumi.Output.secret``.
    """
    where = describe(ref)
    value: str | None
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise SecretAbsent(f"{field}: {where} is not set; export {ref.env} before running {command}")
    elif ref.file is not None:
        path = Path(ref.file).expanduser()
        try:
            value = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretAbsent(f"{field}: {where} does not exist; create it or point {field} at another file") from None
        except IsADirectoryError:
            raise ValueError(f"{field}: {where} is a directory, not a file; name the file inside it") from None
        except PermissionError:
            raise ValueError(f"{field}: {where} is not readable by this user; check its permissions") from None
        except UnicodeDecodeError:
            raise ValueError(f"{field}: {where} is not UTF-8 text; give the text form of the secret") from None
    else:
        assert ref.config is not None  # SecretRef guarantees exactly one source
        namespace, key = _config_key(ref.config)
        if not key or namespace == "":
            raise ValueError(f"{field}: {where} is not a valid config key (use 'namespace:key' or 'key')")
        value = (config or pulumi_config)(namespace, key)
        if value is None:
            raise SecretAbsent(
                f"{field}: {where} is not set in this stack's configuration; "
                f"run pulumi config set --secret {ref.config} <value>"
            )
        if value == SEALED:
            raise SecretSealed(where)
    if not value.strip():
        raise ValueError(f"{field}: {where} is empty; give it the secret's value")
    return value


def read_secret(ref: SecretRef, field: str) -> pulumi.Output[str]:
    """The value behind ``ref`` as a Pulumi secret (see :func:`read_secret_value` for the errors)."""
    import pulumi

    return pulumi.Output.secret(read_secret_value(ref, field))


__all__ = [
    "SEALED",
    "ConfigLookup",
    "SecretAbsent",
    "SecretSealed",
    "describe",
    "pulumi_config",
    "read_secret",
    "read_secret_value",
]
