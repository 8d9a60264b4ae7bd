"""The data-subject requests API's routes, to be included under /v1/ (tracklayer/api_urls.py,
the lead's) — names prefixed ``data-subject-request``."""

from django.urls import path

from privacy.requests import api

urlpatterns = [
    path("data_subject_requests", api.RequestsApi.as_view(), name="data-subject-requests"),
    path(
        "data_subject_requests/<str:request_id>",
        api.RequestDetailApi.as_view(),
        name="data-subject-request-detail",
    ),
    path(
        "data_subject_requests/<str:request_id>/export",
        api.RequestExportApi.as_view(),
        name="data-subject-request-export",
    ),
    path(
        "data_subject_requests/<str:request_id>/receipt",
        api.RequestReceiptApi.as_view(),
        name="data-subject-request-receipt",
    ),
]
