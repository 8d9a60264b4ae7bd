"""``/scim/v2/…``: SCIM 2.0 (RFC 7644) for the workspace the bearer token belongs to. Paths
take an optional trailing slash; any other path answers SCIM's 404."""

from django.urls import re_path

from workspaces.scim import views

app_name = "scim"
urlpatterns = [
    re_path(
        r"^ServiceProviderConfig/?$",
        views.ServiceProviderConfigView.as_view(),
        name="service-provider-config",
    ),
    re_path(r"^ResourceTypes/?$", views.ResourceTypesView.as_view(), name="resource-types"),
    re_path(
        r"^ResourceTypes/(?P<name>[^/]+)/?$",
        views.ResourceTypesView.as_view(),
        name="resource-type",
    ),
    re_path(r"^Schemas/?$", views.SchemasView.as_view(), name="schemas"),
    re_path(r"^Schemas/(?P<schema_id>[^/]+)/?$", views.SchemasView.as_view(), name="schema"),
    re_path(r"^Users/?$", views.UsersView.as_view(), name="users"),
    re_path(r"^Users/(?P<user_id>[^/]+)/?$", views.UserView.as_view(), name="user"),
    re_path(r"^Groups/?$", views.GroupsView.as_view(), name="groups"),
    re_path(r"^Groups/(?P<group_id>[^/]+)/?$", views.GroupView.as_view(), name="group"),
    re_path(r"^.*$", views.not_found_view, name="unknown"),
]
