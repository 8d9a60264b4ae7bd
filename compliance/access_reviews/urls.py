"""Pages of compliance/access_reviews (the isolation test walks them)."""

from django.urls import path

from compliance.access_reviews import views

app_name = "access_reviews"

PREFIX = "w/<slug:slug>/compliance/access-reviews/"
ONE = PREFIX + "<str:campaign_id>/"

urlpatterns = [
    path(PREFIX, views.campaigns_page, name="list"),
    path(PREFIX + "open/", views.campaign_open, name="open"),
    path(ONE, views.campaign_detail, name="detail"),
    path(ONE + "decide/", views.campaign_decide, name="decide"),
    path(ONE + "confirm-unchanged/", views.campaign_confirm_unchanged, name="confirm-unchanged"),
    path(ONE + "complete/", views.campaign_complete, name="complete"),
    path(ONE + "cancel/", views.campaign_cancel, name="cancel"),
    path(ONE + "export.csv", views.campaign_export_csv, name="export-csv"),
    path(ONE + "export.json", views.campaign_export_json, name="export-json"),
]
