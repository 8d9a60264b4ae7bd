"""The incident pages, under ``w/<slug>/incidents/`` (included by ``tracklayer.urls``)."""

from django.urls import path

from monitoring.incidents import views

app_name = "incidents"

PREFIX = "w/<slug:slug>/incidents/"
ONE = PREFIX + "<str:incident_id>/"

urlpatterns = [
    path(PREFIX, views.incidents_page, name="list"),
    path(PREFIX + "open/", views.incident_open, name="open"),
    path(ONE, views.incident_detail, name="detail"),
    path(ONE + "phase/", views.incident_phase, name="phase"),
    path(ONE + "note/", views.incident_note, name="note"),
    path(ONE + "postmortem/", views.incident_postmortem, name="postmortem"),
    path(ONE + "contain/pause/", views.incident_pause_destination, name="pause"),
    path(ONE + "contain/pause-all/", views.incident_pause_all, name="pause-all"),
    path(ONE + "contain/resume/", views.incident_resume_paused, name="resume"),
    path(ONE + "contain/revoke-key/", views.incident_revoke_key, name="revoke-key"),
    path(ONE + "export/", views.incident_export, name="export"),
]
