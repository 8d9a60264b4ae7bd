from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    """Tenants, users, members and roles, invitations and API keys."""

    name = "workspaces"

    def ready(self) -> None:
        # allauth reports a failed MFA code only through a signal; connected here, once.
        from workspaces.auth import mfa_hooks

        mfa_hooks.connect()
        # The API key scheme in the OpenAPI schema (registered by being imported).
        from workspaces.auth import schema  # noqa: F401
