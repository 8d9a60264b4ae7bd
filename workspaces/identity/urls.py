"""Settings → Identity under ``w/<slug>/settings/identity/``, included by workspaces/urls.py
(names in the ``dashboard`` namespace). Each route names its slug itself, so the isolation
test's walk of the URL conf sees the converter on the route."""

from django.urls import path

from workspaces.identity import views

PREFIX = "w/<slug:slug>/settings/identity/"

urlpatterns = [
    path(PREFIX, views.identity, name="identity"),
    path(f"{PREFIX}mfa/", views.mfa_policy, name="identity-mfa"),
    path(f"{PREFIX}saml/metadata/", views.saml_metadata, name="identity-saml-metadata"),
    path(f"{PREFIX}saml/fields/", views.saml_fields, name="identity-saml-fields"),
    path(f"{PREFIX}saml/domains/", views.saml_domains, name="identity-saml-domains"),
    path(f"{PREFIX}saml/break-glass/", views.saml_break_glass, name="identity-saml-break-glass"),
    path(f"{PREFIX}saml/group-roles/", views.saml_group_roles, name="identity-saml-group-roles"),
    path(f"{PREFIX}saml/disable/", views.saml_disable, name="identity-saml-disable"),
    path(f"{PREFIX}scim/tokens/new/", views.scim_token_create, name="identity-scim-token-create"),
    path(
        f"{PREFIX}scim/tokens/<str:token_id>/rotate/",
        views.scim_token_rotate,
        name="identity-scim-token-rotate",
    ),
    path(
        f"{PREFIX}scim/tokens/<str:token_id>/revoke/",
        views.scim_token_revoke,
        name="identity-scim-token-revoke",
    ),
    path(f"{PREFIX}scim/settings/", views.scim_settings, name="identity-scim-settings"),
]
