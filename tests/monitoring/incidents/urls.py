"""The project's URL conf with the incident routes the lead adds to ``tracklayer.urls`` and
``tracklayer.api_urls`` (the diffs in the report); the page and API tests use it through
``@pytest.mark.urls`` until those are merged."""

from django.urls import include, path

from monitoring.incidents import api
from tracklayer.urls import handler400, handler403, handler404, handler500  # noqa: F401
from tracklayer.urls import urlpatterns as project

urlpatterns = [
    path("v1/incidents", api.IncidentsApi.as_view()),
    path("v1/incidents/<str:incident_id>", api.IncidentDetailApi.as_view()),
    path("v1/incidents/<str:incident_id>/export", api.IncidentExportApi.as_view()),
    path("", include("monitoring.incidents.urls")),
    *project,
]
