"""Celery task of access reviews (thin: call one service). Its name is in beat's schedule
(``access-reviews-open-due``, daily): keep it."""

import logging

from celery import shared_task

from compliance.access_reviews.services import access_reviews_open_due

log = logging.getLogger(__name__)


@shared_task
def access_reviews_open_due_task() -> dict:
    """Daily: open this quarter's scheduled access review in every active workspace that has
    none yet (idempotent), and e-mail its admins."""
    report = access_reviews_open_due()
    log.info("access reviews: %d opened, %d failed", report["opened"], len(report["failed"]))
    return report
