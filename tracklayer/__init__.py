"""TrackLayer: server-side tracking and event delivery with provable compliance."""

from tracklayer.celery import app as celery_app

__all__ = ["celery_app"]
