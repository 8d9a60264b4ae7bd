"""Data-subject requests: access, delete, suppress, unsuppress (issue 15;
docs/privacy-requests.md)."""
