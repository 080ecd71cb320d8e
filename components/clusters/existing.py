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

from components.clusters.checks.existing import kubeconfig_endpoint, render_directory, validate
from components.clusters.contract import ClusterComponent, ClusterContract, make_provider
from components.clusters.secrets import describe, read_secret_value
from components.clusters.spec import ExistingClusterSpec
from packs.model import Target

TYPE = "strata:clusters:ExistingCluster"
RENDER_SCHEME = "render://"


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
        adopt_existing: bool = False,
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
            adopt_existing=adopt_existing,
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
                ready=(),
                cloud_name=spec.cloud_name,
            )
        )


__all__ = ["ExistingCluster", "kubeconfig_endpoint", "render_directory", "validate"]
