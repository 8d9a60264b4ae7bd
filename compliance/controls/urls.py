"""Compliance → Controls, under the workspace (the isolation test walks it)."""

from django.urls import path

from compliance.controls import views

app_name = "compliance"

PREFIX = "w/<slug:slug>/compliance/"

urlpatterns = [
    path(PREFIX, views.controls_page, name="controls"),
    path(PREFIX + "controls.json", views.controls_json, name="controls-json"),
]
