"""strata on the Pulumi Kubernetes Operator: the objects that make it reconcile a fleet, and their YAML.

Pure (no Pulumi import): ``strata operator render`` and ``strata plan`` load it offline.
"""
