"""The Overview's route: ``monitoring:overview`` at ``/w/<slug>/`` (included in
tracklayer/urls.py before workspaces.urls, whose overview it replaces)."""

from django.urls import path

from monitoring.overview import views

app_name = "monitoring"

urlpatterns = [
    path("w/<slug:slug>/", views.overview, name="overview"),
]
