"""Settings → Identity under ``w/<slug>/settings/identity/``, included by workspaces/urls.py
(names in the ``dashboard`` namespace)."""

from django.urls import path

from workspaces.identity import views

PREFIX = "w/<slug:slug>/settings/identity/"

urlpatterns = [
    path(PREFIX, views.identity, name="identity"),
    path(f"{PREFIX}mfa/", views.mfa_policy, name="identity-mfa"),
]
