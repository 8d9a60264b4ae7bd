"""The project's URLs with the data-subject requests API under /v1/ in front (until the lead
wires ``privacy.requests.urls`` into tracklayer/api_urls.py)."""

from django.urls import include, path

from tracklayer.urls import urlpatterns as project

urlpatterns = [path("v1/", include("privacy.requests.urls")), *project]
