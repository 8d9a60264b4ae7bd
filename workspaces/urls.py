from django.urls import include, path

from workspaces import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("workspaces/new/", views.workspace_create, name="workspace-create"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("w/<slug:slug>/settings/", views.workspace_settings, name="settings"),
    path("w/<slug:slug>/settings/delete/", views.workspace_delete, name="workspace-delete"),
    # Settings → Identity: w/<slug>/settings/identity/… (each route names its slug itself, so
    # the isolation test's walk sees the converter on the route)
    path("", include("workspaces.identity.urls")),
    path("w/<slug:slug>/members/", views.members, name="members"),
    path("w/<slug:slug>/members/invite/", views.member_invite, name="member-invite"),
    path(
        "w/<slug:slug>/members/<str:user_id>/role/",
        views.member_change_role,
        name="member-change-role",
    ),
    path("w/<slug:slug>/members/<str:user_id>/remove/", views.member_remove, name="member-remove"),
    path(
        "w/<slug:slug>/invitations/<str:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("w/<slug:slug>/api-keys/", views.api_keys, name="api-keys"),
    path("w/<slug:slug>/api-keys/new/", views.api_key_create, name="api-key-create"),
    path(
        "w/<slug:slug>/api-keys/<str:key_id>/rotate/", views.api_key_rotate, name="api-key-rotate"
    ),
    path(
        "w/<slug:slug>/api-keys/<str:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"
    ),
]
