"""Rules for an adopted cluster: the kubeconfig is one and has the context, or the render directory is valid.

Pure (no Pulumi), so the offline plan reads and parses the same kubeconfig the component will, and a file that
is not a kubeconfig, or a context it lacks, stops the plan rather than the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from components.clusters.secrets import ConfigLookup, describe, read_secret_value
from components.clusters.spec import ExistingClusterSpec


def render_directory(spec: ExistingClusterSpec) -> str:
    """``render_dir`` with ``{cluster}`` replaced; raises ``ValueError`` for any other placeholder."""
    try:
        directory = spec.render_dir.format(cluster=spec.name)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"render_dir: {spec.render_dir!r} is not a valid template ({exc!r}); the only placeholder is {{cluster}}"
        ) from None
    if not directory.strip():
        raise ValueError("render_dir: is empty")
    return directory


def kubeconfig_endpoint(text: str, context: str | None = None, source: str = "the kubeconfig") -> str:
    """The API server URL of ``context`` (default: the current context) in a kubeconfig.

    Errors name the spec field to change (``context`` or ``kubeconfig``) and where the kubeconfig came from,
    never its content.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"kubeconfig: {source} is not valid YAML; point kubeconfig at a kubeconfig file") from None
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config":
        raise ValueError(
            f"kubeconfig: {source} is not a kubeconfig (kind: Config, with clusters and contexts); point kubeconfig "
            "at one"
        )
    # A context without a name cannot be chosen (and would break the sorted list of names in a message).
    contexts: dict[str, Any] = {
        c["name"]: c.get("context") or {}
        for c in doc.get("contexts") or []
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    }
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or [] if isinstance(c, dict)}
    if context is not None:
        if context not in contexts:
            raise ValueError(f"context: {context!r} is not in {source} (contexts: {sorted(map(str, contexts))})")
        chosen = context
    else:
        current = doc.get("current-context")
        if not current:
            raise ValueError(f"kubeconfig: {source} has no current-context; set `context` to one of {sorted(contexts)}")
        if current not in contexts:
            raise ValueError(f"kubeconfig: the current-context {current!r} of {source} is not defined in it")
        chosen = current
    cluster_name = contexts[chosen].get("cluster")
    if cluster_name not in clusters:
        raise ValueError(f"kubeconfig: context {chosen!r} of {source} names cluster {cluster_name!r}, which is absent")
    server = clusters[cluster_name].get("server")
    if not isinstance(server, str) or not server:
        raise ValueError(f"kubeconfig: cluster {cluster_name!r} of {source} has no server")
    return server


def validate(
    spec: ExistingClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    tags: Mapping[str, str] | None = None,
    config: ConfigLookup | None = None,
) -> None:
    """Rules the spec model cannot check alone, including that the kubeconfig is readable and has the context.

    ``settings`` and ``tags`` are accepted for the common signature and ignored: an adopted cluster's
    distribution is whatever it already is, and strata creates no cloud resource to tag.
    """
    del settings, tags
    if spec.kubeconfig is None:
        if spec.context is not None:
            raise ValueError(
                "context: is set but kubeconfig is absent (render mode has no contexts); add kubeconfig or remove "
                "context"
            )
        render_directory(spec)
    else:
        # Read and parsed now, so a missing or broken kubeconfig stops the run before anything is built.
        text = read_secret_value(spec.kubeconfig, "kubeconfig", config)
        kubeconfig_endpoint(text, spec.context, describe(spec.kubeconfig))
