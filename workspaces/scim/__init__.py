"""SCIM 2.0 provisioning at /scim/v2/: users are members, groups map to roles (docs/identity.md)."""
