from django.apps import AppConfig


class ScimConfig(AppConfig):
    """SCIM 2.0 provisioning per workspace: tokens, users and groups."""

    name = "workspaces.scim"
    label = "scim"
