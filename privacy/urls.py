from django.urls import path

from privacy import views

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
]
