"""The destinations pages' routes, included by ``destinations/urls.py`` (``app_name`` is set
there: ``destinations:destinations``, ``destinations:destination-edit`` …).

The fixed paths (``new/``, ``deliveries/``, ``dead-letters/``) come before the destination's
own (``<destination_id>/``), which they would otherwise be taken for.
"""

from django.urls import path

from destinations.routing import views

BASE = "w/<slug:slug>/destinations/"
ONE = f"{BASE}<str:destination_id>/"

urlpatterns = [
    path(BASE, views.destinations, name="destinations"),
    path(f"{BASE}new/", views.destination_create, name="destination-create"),
    path(f"{BASE}deliveries/", views.deliveries, name="deliveries"),
    path(
        f"{BASE}deliveries/<int:delivery_id>/",
        views.delivery_detail,
        name="delivery-detail",
    ),
    path(
        f"{BASE}deliveries/<int:delivery_id>/replay/",
        views.delivery_replay,
        name="delivery-replay",
    ),
    path(f"{BASE}dead-letters/", views.dead_letters, name="dead-letters"),
    path(f"{BASE}dead-letters/replay/", views.dead_letters_replay, name="dead-letters-replay"),
    path(f"{BASE}dead-letters/bulk/", views.dead_letters_bulk, name="dead-letters-bulk"),
    path(ONE, views.destination_edit, name="destination-edit"),
    path(f"{ONE}save/", views.destination_update, name="destination-update"),
    path(f"{ONE}pause/", views.destination_pause, name="destination-pause"),
    path(f"{ONE}resume/", views.destination_resume, name="destination-resume"),
    path(f"{ONE}test/", views.destination_test, name="destination-test"),
    path(f"{ONE}delete/", views.destination_delete, name="destination-delete"),
]
