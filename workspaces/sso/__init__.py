"""SAML 2.0 single sign-on, one service provider per workspace (docs/identity.md)."""
