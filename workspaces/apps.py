from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    """Tenants, users, members and roles, invitations and API keys."""

    name = "workspaces"

    def ready(self) -> None:
        # allauth's MFA flows announce changes only through its signals; this is the one
        # place they are connected (see docs/adr/0005).
        from workspaces.auth import mfa_hooks

        mfa_hooks.connect()
