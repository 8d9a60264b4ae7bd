"""Anomalies: detectors run every minute per workspace against a time-of-day baseline,
their lifecycle (open, acknowledged, resolved) and the alerts they send."""
