"""The versioned API root: every app's API routes, under /v1/."""

from django.urls import path

from workspaces import api as workspaces_api

app_name = "api"

urlpatterns = [
    path("whoami", workspaces_api.WhoAmIApi.as_view(), name="whoami"),
    path("members", workspaces_api.MemberListApi.as_view(), name="member-list"),
]
