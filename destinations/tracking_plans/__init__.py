"""Tracking plans: a JSON Schema per event name, compiled for the hot path (with a fast path in
front of jsonschema), the audited changes, the drift report and Settings → Tracking plan
(docs/tracking-plans.md)."""
