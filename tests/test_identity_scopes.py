"""Identity grants land on what the pack's values target, per cloud: pure resolution, plan errors, mocks.

A DNS controller is granted the zone it edits (its resource group and subscription, its project, its hosted
zones), never the cluster's own resource group or every zone of the account.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.clusters.contract import WorkloadIdentity
from components.packstack import PackStack
from packs.catalogue import load_catalogue
from packs.grants import scope_identity
from packs.model import Identity, Target
from packs.resolve import ClusterRequest, Resolver
from tests.catalogue_builder import facts, in_memory, pack, profile
from tests.mocks import GraphMocks, settle
from tests.test_cluster_aks import CLIENT_CONFIG
from tests.test_packstack import contract

SUB = "11111111-2222-3333-4444-555555555555"
HOME_SUB = "00000000-1111-2222-3333-444444444444"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

IDENTITY: dict[str, Any] = {
    "service_account": "dns",
    "aws_policy": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets"],
                "Resource": ["arn:aws:route53:::hostedzone/{{ values.zones }}"],
            },
            {"Effect": "Allow", "Action": ["route53:ListHostedZones"], "Resource": "*"},
        ],
    },
    "azure_roles": [
        "Reader",
        {
            "role": "DNS Zone Contributor",
            "subscription": "{{ values.zone.sub }}",
            "resource_group": "{{ values.zone.rg }}",
        },
    ],
    "gcp_roles": [{"role": "roles/dns.admin", "project": "{{ values.zone.project }}"}, "roles/monitoring.viewer"],
}
VARIABLES = [
    {"name": "zones", "type": "list", "path": "zones", "description": "z", "required_on": ["eks"]},
    {"name": "rg", "type": "string", "path": "zone.rg", "description": "r", "required_on": ["aks"]},
    {"name": "sub", "type": "string", "path": "zone.sub", "description": "s", "required_on": ["aks"]},
    {"name": "project", "type": "string", "path": "zone.project", "description": "p"},
]
DNS = pack("dns", requires=[], identity=IDENTITY, variables=VARIABLES, constraints={"targets": ["eks", "aks", "gke"]})
PROFILE = profile(
    "p", [{"pack": "dns@1.0.0", "expose": ["zones", "rg", "sub", "project"]}], targets=["eks", "aks", "gke"]
)
CATALOGUE = in_memory([DNS], [PROFILE], {"dns": {"zone": {"project": "dns-host-project"}}})


def plan(target: str, **variables: Any) -> Any:
    request = ClusterRequest(
        facts("c1", target), ("p@1.0.0",), variables={f"dns.{k}": v for k, v in variables.items()}, file="env.yaml"
    )
    return Resolver(CATALOGUE).try_resolve(request)


# ------------------------------------------------------------------------------------------ pure


def test_aws_policy_lists_exactly_the_zones_the_values_name() -> None:
    resolved, errors = plan("eks", zones=["Z1AAA", "Z2BBB"])
    assert not errors
    identity = resolved.pack("dns").identity
    assert identity.aws_policy["Statement"][0]["Resource"] == [
        "arn:aws:route53:::hostedzone/Z1AAA",
        "arn:aws:route53:::hostedzone/Z2BBB",
    ]
    assert identity.aws_policy["Statement"][1]["Resource"] == "*"
    # Only this cloud's grants remain in the plan.
    assert identity.azure_roles == () and identity.gcp_roles == ()


def test_azure_grants_take_the_zone_scope_and_bare_roles_the_cluster_scope() -> None:
    resolved, errors = plan("aks", rg="dns-zones", sub=SUB)
    assert not errors
    reader, contributor = resolved.pack("dns").identity.azure_roles
    assert (reader.role, reader.subscription, reader.resource_group) == ("Reader", None, None)
    assert (contributor.subscription, contributor.resource_group) == (SUB, "dns-zones")
    assert resolved.pack("dns").identity.aws_policy is None


def test_gcp_grants_take_the_values_project_or_the_clusters() -> None:
    resolved, errors = plan("gke")
    assert not errors
    admin, viewer = resolved.pack("dns").identity.gcp_roles
    assert admin.project == "dns-host-project" and viewer.project is None
    resolved, _ = plan("gke", project="other-dns-project")
    assert resolved.pack("dns").identity.gcp_roles[0].project == "other-dns-project"


def test_a_missing_required_variable_is_reported_once() -> None:
    _, errors = plan("aks", rg="dns-zones")
    assert [(e.file, e.path) for e in errors] == [("env.yaml", "variables.dns.sub")]
    _, errors = plan("eks")
    assert [(e.file, e.path) for e in errors] == [("env.yaml", "variables.dns.zones")]


def test_an_unresolvable_scope_is_a_plan_error_naming_the_pack_file_and_field() -> None:
    no_default = in_memory([DNS], [PROFILE])  # no values.yaml: zone.project is nowhere
    request = ClusterRequest(facts("c1", "gke"), ("p@1.0.0",), file="env.yaml")
    _, errors = Resolver(no_default).try_resolve(request)
    (error,) = errors
    assert error.file == "packs/catalog/dns/1.0.0/pack.yaml"
    assert error.path == "identity.gcp_roles[0].project"
    assert error.message == "{{ values.zone.project }} is not set on this cluster: set variable dns.project"
    assert error.cluster == "c1"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"zone": {"rg": ["a", "b"], "sub": SUB}}, "resource_group", "names a list of 2 values; this scope takes one"),
        ({"zone": {"rg": "dns zones!", "sub": SUB}}, "resource_group", "which is not an Azure resource group name"),
        ({"zone": {"rg": "dns", "sub": "not-a-guid"}}, "subscription", "which is not an Azure subscription id"),
        ({"zone": {"rg": {"a": 1}, "sub": SUB}}, "resource_group", "is a map; a scope takes a string"),
        (
            {"zone": {"rg": "{{ identity.azure_client_id }}", "sub": SUB}},
            "resource_group",
            "only known at deploy time",
        ),
    ],
)
def test_scopes_that_the_cloud_would_refuse_are_plan_problems(values: dict[str, Any], field: str, message: str) -> None:
    _, problems = scope_identity(Identity.model_validate(IDENTITY), "dns", values, facts("c1", "aks"))
    (problem,) = problems
    assert problem.field == f"identity.azure_roles[1].{field}"
    assert message in problem.message


def test_an_empty_zone_list_grants_nothing_and_says_so() -> None:
    _, problems = scope_identity(Identity.model_validate(IDENTITY), "dns", {"zones": []}, facts("c1", "eks"))
    (problem,) = problems
    assert problem.field == "identity.aws_policy.Statement[0].Resource[0]"
    assert problem.message == "{{ values.zones }} is an empty list: the grant would cover nothing"


def test_scopes_reference_only_values_and_cluster_facts() -> None:
    bad = {**IDENTITY, "gcp_roles": [{"role": "roles/dns.admin", "project": "{{ secret.project }}"}]}
    with pytest.raises(ValueError, match=r"a grant's scope may use only \{\{ values.<path> \}\}"):
        Identity.model_validate(bad)


def test_every_identity_template_in_the_catalogue_names_a_value_the_pack_can_hold() -> None:
    """A typo in a scope (``azure-resourcegroup``) would only surface on one cloud's clusters: catch it here."""
    from packs.grants import _TEMPLATE
    from packs.paths import leaves

    catalogue = load_catalogue()
    checked = 0
    for (name, version), found in catalogue.packs.items():
        identity = found.pack.identity
        if identity is None:
            continue
        writable = {".".join(p) for p, _ in leaves(found.values)}
        writable |= {v.path for v in found.pack.variables}
        for overlay in found.pack.overlays.values():
            writable |= {".".join(p) for p, _ in leaves(overlay)}
        for m in _TEMPLATE.finditer(json.dumps(identity.model_dump(mode="json"))):
            if m.group(1) == "values":
                checked += 1
                path = m.group(2).lstrip(".")
                assert path in writable, f"{name}@{version}: {m.group(0)} is not a value the pack sets or exposes"
    assert checked >= 5


# ------------------------------------------------------------------------------------------ mocks


def azure_wi() -> WorkloadIdentity:
    return WorkloadIdentity(
        kind="azure-workload-identity",
        issuer=pulumi.Output.from_input("https://westeurope.oic.prod-aks.azure.com/tenant/cluster/"),
        resource_group=pulumi.Output.from_input("c1-rg"),
        location="westeurope",
    )


def test_azure_role_assignments_under_mocks(mocks: GraphMocks) -> None:
    mocks.calls[CLIENT_CONFIG] = lambda args: {"subscriptionId": HOME_SUB, "tenantId": "t", "clientId": "c"}
    resolved, errors = plan("aks", rg="dns-zones", sub=SUB)
    assert not errors
    PackStack("c1", contract("c1", Target.AKS, azure_wi()), resolved)
    settle()
    assignments = {r.name: r.inputs for r in mocks.of_type(ROLE_ASSIGNMENT)}
    # The bare role keeps its name and GUID scheme, at the cluster's resource group in the cluster's subscription.
    reader = assignments.pop("c1-dns-acdd72a7")
    assert reader["scope"] == f"/subscriptions/{HOME_SUB}/resourceGroups/c1-rg"
    assert reader["roleDefinitionId"].startswith(f"/subscriptions/{HOME_SUB}/providers/")
    ((name, contributor),) = assignments.items()
    assert name.startswith("c1-dns-befefa01-")
    assert contributor["scope"] == f"/subscriptions/{SUB}/resourceGroups/dns-zones"
    assert contributor["roleDefinitionId"] == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/befefa01-2a29-4197-83a8-272ff33ce314"
    )
    assert contributor["roleAssignmentName"] != reader["roleAssignmentName"]


def test_gcp_bindings_under_mocks(mocks: GraphMocks) -> None:
    resolved, _ = plan("gke", project="other-dns-project")
    wi = WorkloadIdentity(kind="gcp-workload-identity", project="cluster-project-1")
    PackStack("c1", contract("c1", Target.GKE, wi), resolved)
    settle()
    members = {r.name: r.inputs for r in mocks.of_type("gcp:projects/iAMMember:IAMMember")}
    assert members["c1-dns-dns-admin-other-dns-project"]["project"] == "other-dns-project"
    # A binding in the cluster's own project keeps the name it always had.
    assert members["c1-dns-monitoring-viewer"]["project"] == "cluster-project-1"


def test_iam_policy_under_mocks(mocks: GraphMocks) -> None:
    from tests.test_packstack import irsa, role_state

    mocks.state_for["aws:iam/role:Role"] = role_state
    resolved, _ = plan("eks", zones=["Z1AAA"])
    PackStack("c1", contract("c1", Target.EKS, irsa()), resolved)
    settle()
    policy = json.loads(mocks.named("c1-dns-irsa-inline").inputs["policy"])
    assert policy["Statement"][0]["Resource"] == ["arn:aws:route53:::hostedzone/Z1AAA"]
