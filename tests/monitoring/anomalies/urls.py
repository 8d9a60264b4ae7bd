"""The project's URLs with the anomalies' routes in them, as the lead's diffs to
tracklayer/urls.py and tracklayer/api_urls.py place them (tests mark themselves with
``pytest.mark.urls`` until those are merged; the end-to-end worker loads it too)."""

from django.urls import include, path

from monitoring.anomalies import api
from tracklayer import urls as project

handler400 = project.handler400
handler403 = project.handler403
handler404 = project.handler404
handler500 = project.handler500

urlpatterns = [
    path("v1/anomalies", api.AnomaliesApi.as_view(), name="anomalies-api"),
    path(
        "v1/anomalies/<str:anomaly_id>",
        api.AnomalyDetailApi.as_view(),
        name="anomalies-api-detail",
    ),
    path("", include("monitoring.anomalies.urls")),
    *project.urlpatterns,
]
