"""SAML 2.0 single sign-on, one service provider per workspace (docs/identity.md)."""

from django.apps import AppConfig

from tracklayer import keyring


class SsoConfig(AppConfig):
    """SAML 2.0 SSO per workspace: IdP configuration, managed domains, enforcement."""

    name = "workspaces.sso"
    label = "sso"

    def ready(self) -> None:
        from workspaces.sso.models import sp_key_context

        keyring.register_sealed_field("sso.SamlConfig", "sp_private_key", sp_key_context)
