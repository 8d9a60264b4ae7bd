"""Privacy → Retention's route, included by ``destinations/urls.py`` (``destinations:retention``).
It sits under ``privacy/`` in the URL, beside Requests and Suppressed subjects, because that is
where an admin looks for it; the windows and the purge are destinations' (the event store's)."""

from django.urls import path

from destinations.retention import views

urlpatterns = [
    path("w/<slug:slug>/privacy/retention/", views.retention_page, name="retention"),
]
