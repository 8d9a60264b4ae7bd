"""The SCIM app's models (helper-owned)."""
