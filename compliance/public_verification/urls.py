"""Pages of compliance/public_verification (the isolation test walks them): the admins'
settings page, and the public, unauthenticated verification page."""

from django.urls import path

from compliance.public_verification import views

app_name = "public_verification"

urlpatterns = [
    path("w/<slug:slug>/settings/public-verification/", views.settings_page, name="settings"),
    path("verify/<str:workspace_id>/", views.public_page, name="page"),
]
