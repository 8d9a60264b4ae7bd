from django.urls import path

from privacy import views
from privacy.requests import views as requests_views

app_name = "privacy"

urlpatterns = [
    path("w/<slug:slug>/settings/consent/", views.consent_settings, name="consent"),
    path(
        "w/<slug:slug>/settings/consent/general/",
        views.consent_general_update,
        name="consent-general",
    ),
    path(
        "w/<slug:slug>/settings/consent/policies/<str:kind>/",
        views.consent_policy_update,
        name="consent-policy",
    ),
    path("w/<slug:slug>/consent/tester/", views.consent_tester, name="consent-tester"),
    path("w/<slug:slug>/privacy/requests/", requests_views.requests_page, name="requests"),
    path(
        "w/<slug:slug>/privacy/requests/<str:request_id>/",
        requests_views.request_detail,
        name="request",
    ),
    path(
        "w/<slug:slug>/privacy/requests/<str:request_id>/receipt/",
        requests_views.request_receipt,
        name="request-receipt",
    ),
    path(
        "w/<slug:slug>/privacy/requests/<str:request_id>/export/",
        requests_views.request_export,
        name="request-export",
    ),
    path("w/<slug:slug>/privacy/suppressed/", requests_views.suppressed_page, name="suppressed"),
]
