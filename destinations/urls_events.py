"""The events debugger's routes, included by ``destinations/urls.py`` (``app_name`` is set
there: ``destinations:events``, ``destinations:events-table``, ``destinations:event-detail``).

The table has a path of its own rather than ``events/table/``, so that no messageId can be
shadowed by it; the detail takes ``<path:…>`` because a client's messageId may contain a
slash, and an unreversible id would break the whole table.
"""

from django.urls import path

from destinations import views_events

urlpatterns = [
    path("w/<slug:slug>/events/", views_events.events, name="events"),
    path("w/<slug:slug>/events-table/", views_events.events_table, name="events-table"),
    path(
        "w/<slug:slug>/events/<path:message_id>/",
        views_events.event_detail,
        name="event-detail",
    ),
]
