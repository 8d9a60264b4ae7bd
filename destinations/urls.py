"""The dashboard's destinations pages. The events debugger and Settings → Ingestion keep
their routes in modules of their own, included here."""

from django.urls import path

from destinations import urls_destinations, urls_events, urls_settings, views_tracking

app_name = "destinations"

TRACKING_PLAN = "w/<slug:slug>/settings/tracking-plan/"

urlpatterns = [
    *urls_events.urlpatterns,
    *urls_settings.urlpatterns,
    *urls_destinations.urlpatterns,
    # Settings → Tracking plan
    path(TRACKING_PLAN, views_tracking.tracking_plan, name="tracking-plan"),
    path(f"{TRACKING_PLAN}mode/", views_tracking.tracking_plan_mode, name="tracking-plan-mode"),
    path(
        f"{TRACKING_PLAN}events/",
        views_tracking.tracking_plan_event_save,
        name="tracking-plan-event-save",
    ),
    path(
        f"{TRACKING_PLAN}events/remove/",
        views_tracking.tracking_plan_event_remove,
        name="tracking-plan-event-remove",
    ),
    path(
        f"{TRACKING_PLAN}import/", views_tracking.tracking_plan_import, name="tracking-plan-import"
    ),
    path(
        f"{TRACKING_PLAN}export/", views_tracking.tracking_plan_export, name="tracking-plan-export"
    ),
    path(
        f"{TRACKING_PLAN}delete/", views_tracking.tracking_plan_delete, name="tracking-plan-delete"
    ),
]
