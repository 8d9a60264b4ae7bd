"""Settings → Identity: the workspace's MFA policy, its SAML and SCIM configuration as one
dashboard page, and the identity coverage the overview shows (docs/identity.md).

The SAML and SCIM logic lives in ``workspaces.sso`` and ``workspaces.scim``; this package only
calls their services and selectors.
"""
