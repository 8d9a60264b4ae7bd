"""Retention: each workspace's windows and the periodic purge that enforces them, per region
(docs/privacy-requests.md, "Retention")."""
