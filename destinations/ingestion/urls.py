"""Ingestion's dashboard routes (the events debugger and Settings → Ingestion), included by
``destinations/urls.py`` (``app_name`` is set there: ``destinations:events``,
``destinations:events-table``, ``destinations:events-user``, ``destinations:events-rejected``,
``destinations:event-detail``, ``destinations:ingestion-settings``).

The table, the userId search and the rejected events have paths of their own rather than
``events/table/`` …, so that no messageId can be shadowed by them; the detail takes
``<path:…>`` because a client's messageId may contain a slash, and an unreversible id would
break the whole table.
"""

from django.urls import path

from destinations.ingestion import views

urlpatterns = [
    path("w/<slug:slug>/events/", views.events, name="events"),
    path("w/<slug:slug>/events-table/", views.events_table, name="events-table"),
    path("w/<slug:slug>/events-user/", views.events_user, name="events-user"),
    path("w/<slug:slug>/events-rejected/", views.events_rejected, name="events-rejected"),
    path(
        "w/<slug:slug>/events/<path:message_id>/",
        views.event_detail,
        name="event-detail",
    ),
    path(
        "w/<slug:slug>/settings/ingestion/",
        views.ingestion_settings,
        name="ingestion-settings",
    ),
]
