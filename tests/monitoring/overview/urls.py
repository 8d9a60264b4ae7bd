"""The project's URLs with the Overview first, as tracklayer/urls.py will include it (before
workspaces.urls, whose overview it replaces at /w/<slug>/)."""

from django.urls import include, path

from tracklayer.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("", include("monitoring.overview.urls")), *project_urlpatterns]
