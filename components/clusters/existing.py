"""A cluster strata did not create, behind the same contract as the ones it did.

Two modes, chosen by whether the spec names a kubeconfig:

- **adopt**: the kubeconfig (from an environment variable, a file or a Pulumi config key) becomes a Pulumi
  secret and the provider talks to the cluster it names (``context``, or its current context). The endpoint is
  parsed from that kubeconfig before anything is registered, so a wrong context is a plan-time error, and it is
  a plain output: it identifies the cluster and is no credential.
- **render**: no cluster at all. The provider gets ``render_yaml_to_directory`` and ``pulumi up`` writes every
  manifest of the layered profile as YAML to ``render_dir`` (``{cluster}`` is the cluster name) -- ready to be
  committed for a GitOps controller. This is the embedded ``local`` environment: it needs no cloud account and
  no cluster. The contract's kubeconfig is then an empty secret (nothing can connect) and its endpoint is
  ``render://<dir>``, so consumers can tell the two modes apart.

Either way nothing but the provider is created: strata never owns (or protects, or deletes) an adopted cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import yaml

from components.clusters.contract import ClusterComponent, ClusterContract, make_provider
from components.clusters.secrets import describe, read_secret_value
from components.clusters.spec import ExistingClusterSpec
from packs.model import Target

TYPE = "strata:clusters:ExistingCluster"
RENDER_SCHEME = "render://"


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
        raise ValueError(f"kubeconfig: {source} is not valid YAML") from None
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config":
        raise ValueError(f"kubeconfig: {source} is not a kubeconfig")
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
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


def validate(spec: ExistingClusterSpec, settings: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Rules the spec model cannot check alone, including that the kubeconfig is readable and has the context.

    ``settings`` is accepted for the common signature and ignored: an adopted cluster's distribution is
    whatever it already is.
    """
    del settings
    if spec.kubeconfig is None:
        if spec.context is not None:
            raise ValueError("context: is set but kubeconfig is absent (render mode has no contexts)")
        render_directory(spec)
    else:
        # Read and parsed now, so a missing or broken kubeconfig stops the run before anything is built.
        kubeconfig_endpoint(read_secret_value(spec.kubeconfig, "kubeconfig"), spec.context, describe(spec.kubeconfig))


class ExistingCluster(ClusterComponent):
    """Adopt a cluster through its kubeconfig, or render the profile's manifests to a directory."""

    validate = staticmethod(validate)

    def __init__(
        self,
        name: str,
        spec: ExistingClusterSpec,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        protect: bool = False,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # ``protect`` and ``tags`` have nothing to land on: strata creates no cluster resource here.
        validate(spec, settings)
        render_dir: str | None = None
        if spec.kubeconfig is not None:
            text = read_secret_value(spec.kubeconfig, "kubeconfig")
            endpoint = kubeconfig_endpoint(text, spec.context, describe(spec.kubeconfig))
            kubeconfig = pulumi.Output.secret(text)
        else:
            render_dir = render_directory(spec)
            endpoint = f"{RENDER_SCHEME}{render_dir}"
            kubeconfig = pulumi.Output.secret("")
        super().__init__(TYPE, name, None, opts)

        provider = make_provider(
            name,
            Target.EXISTING,
            kubeconfig if spec.kubeconfig is not None else None,
            parent=self,
            render_yaml_to_directory=render_dir,
            context=spec.context,
            cloud_name=spec.cloud_name,
        )
        self._finish(
            ClusterContract(
                name=spec.name,
                target=Target.EXISTING,
                facts=spec.facts_for_plan(),
                kubernetes_version=pulumi.Output.from_input(spec.kubernetes_version),
                endpoint=pulumi.Output.from_input(endpoint),
                kubeconfig=kubeconfig,
                provider=provider,
                storage_class=None,
                load_balancer=True,
                handles={},
                ready=(),
                cloud_name=spec.cloud_name,
            )
        )


__all__ = ["ExistingCluster", "kubeconfig_endpoint", "render_directory", "validate"]
