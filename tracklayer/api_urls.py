"""The versioned API root: every app's API routes, under /v1/."""

from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from audit import api as audit_api
from destinations.ingestion import api as ingest
from destinations.routing import api as destinations_api
from monitoring.anomalies import api as anomalies_api
from monitoring.incidents import api as incidents_api
from privacy.requests import api as privacy_requests_api
from tracklayer import api
from workspaces import api as workspaces_api

app_name = "api"

urlpatterns = [
    # Ingestion: native, then Segment's HTTP tracking API (import is Segment's alias of batch)
    path("events", ingest.EventsIngestApi.as_view(), name="events"),
    path("events/<path:message_id>", ingest.EventDetailApi.as_view(), name="event-detail"),
    path("track", ingest.SegmentTrackApi.as_view(), name="segment-track"),
    path("identify", ingest.SegmentIdentifyApi.as_view(), name="segment-identify"),
    path("page", ingest.SegmentPageApi.as_view(), name="segment-page"),
    path("screen", ingest.SegmentScreenApi.as_view(), name="segment-screen"),
    path("group", ingest.SegmentGroupApi.as_view(), name="segment-group"),
    path("alias", ingest.SegmentAliasApi.as_view(), name="segment-alias"),
    path("batch", ingest.SegmentBatchApi.as_view(), name="segment-batch"),
    path("import", ingest.SegmentBatchApi.as_view(), name="segment-import"),
    # analytics.js (Segment's browser SDK) posts to the type's first letter, and to /b for
    # batches (segmentio/analytics-next, plugins/segmentio).
    path("t", ingest.SegmentTrackApi.as_view(), name="segment-t"),
    path("i", ingest.SegmentIdentifyApi.as_view(), name="segment-i"),
    path("p", ingest.SegmentPageApi.as_view(), name="segment-p"),
    path("s", ingest.SegmentScreenApi.as_view(), name="segment-s"),
    path("g", ingest.SegmentGroupApi.as_view(), name="segment-g"),
    path("a", ingest.SegmentAliasApi.as_view(), name="segment-a"),
    path("b", ingest.SegmentBatchApi.as_view(), name="segment-b"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI (served from drf-spectacular-sidecar, its script a separate file) sets inline
    # styles; only this page allows them, scripts stay as strict as everywhere.
    path(
        "docs",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    path("whoami", workspaces_api.WhoAmIApi.as_view(), name="whoami"),
    path("workspace", workspaces_api.WorkspaceDetailApi.as_view(), name="workspace"),
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
    # Destinations and the delivery log (destinations/api_destinations.py)
    path("destinations", destinations_api.DestinationsApi.as_view(), name="destinations"),
    path(
        "destinations/<str:destination_id>",
        destinations_api.DestinationDetailApi.as_view(),
        name="destination-detail",
    ),
    path(
        "destinations/<str:destination_id>/pause",
        destinations_api.DestinationPauseApi.as_view(),
        name="destination-pause",
    ),
    path(
        "destinations/<str:destination_id>/resume",
        destinations_api.DestinationResumeApi.as_view(),
        name="destination-resume",
    ),
    path(
        "destinations/<str:destination_id>/test",
        destinations_api.DestinationTestApi.as_view(),
        name="destination-test",
    ),
    path("deliveries", destinations_api.DeliveriesApi.as_view(), name="deliveries"),
    path(
        "deliveries/replay",
        destinations_api.DeliveriesReplayApi.as_view(),
        name="deliveries-replay",
    ),
    # Data-subject requests (privacy/requests/api.py)
    path(
        "data_subject_requests",
        privacy_requests_api.RequestsApi.as_view(),
        name="data-subject-requests",
    ),
    path(
        "data_subject_requests/<str:request_id>",
        privacy_requests_api.RequestDetailApi.as_view(),
        name="data-subject-request-detail",
    ),
    path(
        "data_subject_requests/<str:request_id>/export",
        privacy_requests_api.RequestExportApi.as_view(),
        name="data-subject-request-export",
    ),
    path(
        "data_subject_requests/<str:request_id>/receipt",
        privacy_requests_api.RequestReceiptApi.as_view(),
        name="data-subject-request-receipt",
    ),
    # Anomalies (monitoring/anomalies/api.py), read-only
    path("anomalies", anomalies_api.AnomaliesApi.as_view(), name="anomalies"),
    path(
        "anomalies/<str:anomaly_id>",
        anomalies_api.AnomalyDetailApi.as_view(),
        name="anomaly-detail",
    ),
    # Incidents (monitoring/incidents/api.py), read-only
    path("incidents", incidents_api.IncidentsApi.as_view(), name="incidents"),
    path(
        "incidents/<str:incident_id>",
        incidents_api.IncidentDetailApi.as_view(),
        name="incident-detail",
    ),
    path(
        "incidents/<str:incident_id>/export",
        incidents_api.IncidentExportApi.as_view(),
        name="incident-export",
    ),
    path("", include("compliance.api_urls")),
    # Last: any other path under /v1/ is a JSON 404, whatever the method and DEBUG.
    re_path(r"^.*$", api.unknown_path, name="unknown"),
]
