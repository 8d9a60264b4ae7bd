"""The versioned API root: every app's API routes, under /v1/."""

from django.urls import path

from audit import api as audit_api
from workspaces import api as workspaces_api

app_name = "api"

urlpatterns = [
    path("whoami", workspaces_api.WhoAmIApi.as_view(), name="whoami"),
    path("members", workspaces_api.MemberListApi.as_view(), name="member-list"),
    path("audit/events", audit_api.AuditEventCreateApi.as_view(), name="audit-event-create"),
    path("audit/verify", audit_api.AuditVerifyApi.as_view(), name="audit-verify"),
    path("audit/checkpoint", audit_api.AuditCheckpointApi.as_view(), name="audit-checkpoint"),
    path(
        "audit/proof/inclusion",
        audit_api.AuditInclusionProofApi.as_view(),
        name="audit-proof-inclusion",
    ),
    path(
        "audit/proof/consistency",
        audit_api.AuditConsistencyProofApi.as_view(),
        name="audit-proof-consistency",
    ),
]
