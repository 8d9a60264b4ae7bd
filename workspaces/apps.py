from django.apps import AppConfig

from tracklayer import keyring


class WorkspacesConfig(AppConfig):
    """Tenants, users, members and roles, invitations and API keys."""

    name = "workspaces"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import models (ours and allauth's),
        # which Django allows only once every app is loaded — which is when ready() runs.
        from workspaces.auth import (
            mfa_adapter,
            mfa_hooks,
            schema,  # noqa: F401  (registers the API key scheme)
        )

        # allauth reports a failed MFA code only through a signal; connected here, once.
        mfa_hooks.connect()
        # MFA secrets sit inside allauth's Authenticator.data (JSON), not in a column of their own.
        keyring.register_resealer("mfa.Authenticator.data", mfa_adapter.mfa_secrets_reencrypt)

        # Each region's data-plane ids start at its own block (workspaces/regions.py).
        from django.db.models.signals import post_migrate

        from workspaces.regions import number_from_block

        post_migrate.connect(number_from_block, dispatch_uid="workspaces.regions.number_from_block")
