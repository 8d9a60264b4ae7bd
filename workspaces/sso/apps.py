from django.apps import AppConfig


class SsoConfig(AppConfig):
    """SAML 2.0 SSO per workspace: IdP configuration, managed domains, enforcement."""

    name = "workspaces.sso"
    label = "sso"
