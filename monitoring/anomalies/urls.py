"""The Anomalies pages, under the workspace (the isolation test walks them)."""

from django.urls import path

from monitoring.anomalies import views

app_name = "anomalies"

BASE = "w/<slug:slug>/anomalies/"

urlpatterns = [
    path(BASE, views.anomalies_page, name="list"),
    path(f"{BASE}alerts/", views.alert_settings, name="alert-settings"),
    path(f"{BASE}<str:anomaly_id>/", views.anomaly_detail, name="detail"),
    path(f"{BASE}<str:anomaly_id>/acknowledge/", views.anomaly_acknowledge, name="acknowledge"),
    path(f"{BASE}<str:anomaly_id>/resolve/", views.anomaly_resolve, name="resolve"),
]
