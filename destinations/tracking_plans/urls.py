"""Settings → Tracking plan, included by ``destinations/urls.py`` (``app_name`` is set there)."""

from django.urls import path

from destinations.tracking_plans import views

TRACKING_PLAN = "w/<slug:slug>/settings/tracking-plan/"

urlpatterns = [
    path(TRACKING_PLAN, views.tracking_plan, name="tracking-plan"),
    path(f"{TRACKING_PLAN}mode/", views.tracking_plan_mode, name="tracking-plan-mode"),
    path(
        f"{TRACKING_PLAN}events/", views.tracking_plan_event_save, name="tracking-plan-event-save"
    ),
    path(
        f"{TRACKING_PLAN}events/remove/",
        views.tracking_plan_event_remove,
        name="tracking-plan-event-remove",
    ),
    path(f"{TRACKING_PLAN}import/", views.tracking_plan_import, name="tracking-plan-import"),
    path(f"{TRACKING_PLAN}export/", views.tracking_plan_export, name="tracking-plan-export"),
    path(f"{TRACKING_PLAN}delete/", views.tracking_plan_delete, name="tracking-plan-delete"),
]
