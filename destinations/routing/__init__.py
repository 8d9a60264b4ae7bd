"""Routing: the destination control plane — create, edit, pause, resume, delete, replay; the
validation of a destination's settings, its sealed secrets, the API and the dashboard pages
(docs/destinations.md)."""
