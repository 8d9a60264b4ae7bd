"""The SSO app's models (helper-owned)."""
