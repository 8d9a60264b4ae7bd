"""Ingestion: the API that takes events (native and Segment-compatible), the envelope checks and
minimisation, the group-commit event store, the per-process runtime cache, and the events
debugger and Settings → Ingestion pages (docs/ingestion.md)."""
