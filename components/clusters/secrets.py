"""Reading a :class:`~components.clusters.spec.SecretRef` into a Pulumi secret.

An environment file names *where* a credential lives (an environment variable, a file, a Pulumi config key),
never the credential itself, so the file can be committed and reviewed. The value is read once, synchronously,
while the component is being constructed: a missing SSH key or kubeconfig is then a plain ``ValueError`` that
names the field and the source before a single resource has been registered, instead of a failure half-way
through ``pulumi up`` on the first host. Whatever leaves this module for the resource graph is wrapped with
``pulumi.Output.secret`` at the point of reading, so it is encrypted in the state and masked in every diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from components.clusters.spec import SecretRef


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


def read_secret_value(ref: SecretRef, field: str) -> str:
    """The plain value behind ``ref``; raises ``ValueError`` naming ``field`` and the source when it is unusable.

    The plain text is returned (rather than only an Output) because some callers must *parse* it before any
    resource exists (the endpoint of an adopted kubeconfig, say). Anything derived from it that goes into the
    resource graph must go through :func:`read_secret` or ``pulumi.Output.secret``.
    """
    where = describe(ref)
    value: str | None
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise ValueError(f"{field}: {where} is not set")
    elif ref.file is not None:
        path = Path(ref.file).expanduser()
        try:
            value = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"{field}: {where} does not exist") from None
        except IsADirectoryError:
            raise ValueError(f"{field}: {where} is a directory, not a file") from None
        except PermissionError:
            raise ValueError(f"{field}: {where} is not readable by this user") from None
        except UnicodeDecodeError:
            raise ValueError(f"{field}: {where} is not UTF-8 text") from None
    else:
        assert ref.config is not None  # SecretRef guarantees exactly one source
        namespace, key = _config_key(ref.config)
        if not key or namespace == "":
            raise ValueError(f"{field}: {where} is not a valid config key (use 'namespace:key' or 'key')")
        # Config.get returns the decrypted text of a `secure:` value too; it is re-wrapped as a secret below.
        value = pulumi.Config(namespace).get(key)
        if value is None:
            raise ValueError(f"{field}: {where} is not set in this stack's configuration")
    if not value.strip():
        raise ValueError(f"{field}: {where} is empty")
    return value


def read_secret(ref: SecretRef, field: str) -> pulumi.Output[str]:
    """The value behind ``ref`` as a Pulumi secret (see :func:`read_secret_value` for the errors)."""
    return pulumi.Output.secret(read_secret_value(ref, field))


__all__ = ["describe", "read_secret", "read_secret_value"]
