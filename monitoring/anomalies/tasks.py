"""Celery tasks of anomalies (thin: fetch by id, call one service). Their names are stored in
beat's schedule (``anomalies-detect-<region>``, every minute) and named by
``services.ALERT_TASK``: keep them."""

import logging

from celery import shared_task

from monitoring.anomalies import alerts
from monitoring.anomalies.models import Anomaly
from monitoring.anomalies.run import anomalies_detect_region

log = logging.getLogger(__name__)

ALERT_RETRIES = 5


@shared_task
def anomalies_detect(region: str) -> dict:
    """Every minute, per region (on the region's queue): run the detectors over all its
    workspaces."""
    report = anomalies_detect_region(region=region)
    log.info(
        "anomalies %s: %d workspaces, %d opened, %d resolved, %d failed",
        region,
        report.workspaces,
        report.opened,
        report.resolved,
        len(report.failed),
    )
    return {
        "workspaces": report.workspaces,
        "opened": report.opened,
        "updated": report.updated,
        "resolved": report.resolved,
        "failed": report.failed,
    }


@shared_task(
    bind=True,
    autoretry_for=(alerts.AlertRetry,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=ALERT_RETRIES,
)
def anomaly_alert_send(self, anomaly_id: int, transition: str) -> None:
    """Send one transition's alerts (e-mail, webhook); a webhook that may succeed later is
    retried with backoff, and every failure is recorded on the anomaly."""
    anomaly = Anomaly.objects.select_related("workspace").filter(pk=anomaly_id).first()
    if anomaly is not None:
        alerts.alert_send(anomaly=anomaly, transition=transition)
