"""Settings → Ingestion, included by ``destinations/urls.py``."""

from django.urls import path

from destinations import views_settings

urlpatterns = [
    path(
        "w/<slug:slug>/settings/ingestion/",
        views_settings.ingestion_settings,
        name="ingestion-settings",
    ),
]
