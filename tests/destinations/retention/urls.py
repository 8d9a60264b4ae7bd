"""The project's URLs with Privacy → Retention's route among ``destinations:…``, as
destinations/urls.py includes it (the lead wires it there; until then these tests use this)."""

from django.urls import include, path

from destinations import urls as destinations_urls
from destinations.retention import urls as retention_urls
from tracklayer.urls import urlpatterns as project_urlpatterns


class Destinations:
    app_name = "destinations"
    urlpatterns = [*retention_urls.urlpatterns, *destinations_urls.urlpatterns]


# The first "destinations" namespace is the one reverse() uses.
urlpatterns = [path("", include(Destinations)), *project_urlpatterns]
