"""Alerts about anomalies: an e-mail to the members chosen and a signed webhook to the
workspace's alert URL, on open and on resolve.

Guarantees:

- One alert per anomaly, transition ("opened", "resolved") and channel: what was sent is
  recorded on the anomaly (``alerts``), and a retried task sends nothing twice.
- Quiet period: an anomaly opened again for the same (kind, subject) within the workspace's
  ``quiet_minutes`` of one already alerted is not alerted again (and so neither is its
  resolution). A "resolved" message goes only where the "opened" one went.
- The webhook goes through the egress policy (``tracklayer.http``: a private address is
  refused in production) and is signed as TrackLayer's webhooks are
  (``destinations.adapters.webhook``): ``X-TrackLayer-Signature: t=<unix>,v1=<hex HMAC-SHA256
  of "<t>.<body>">`` with the alert secret; ``Idempotency-Key: <anomaly id>:<transition>``.
- Messages carry kinds, subjects, figures and links — no personal data.
- A deleted (or purged) workspace sends nothing, even for a transition queued before.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from destinations.adapters.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature_header
from monitoring.anomalies import services
from monitoring.anomalies.models import SEVERITY_RANK, AlertSettings, Anomaly
from tracklayer import http

TRANSITIONS = ("opened", "resolved")
USER_AGENT = "TrackLayer-Alerts/1"
TIMEOUT = 10.0


class AlertRetry(Exception):
    """The webhook may succeed later (no answer, 408, 429, 5xx): the task retries."""


@dataclass(frozen=True)
class Outcome:
    channel: str
    result: dict


def message(anomaly: Anomaly, transition: str) -> dict:
    """The webhook's JSON body (and the e-mail's content)."""
    path = reverse(
        "anomalies:detail",
        kwargs={"slug": anomaly.workspace.slug, "anomaly_id": anomaly.public_id},
    )
    return {
        "type": f"anomaly.{transition}",
        "sent_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "workspace": anomaly.workspace.public_id,
        "anomaly": {
            "id": anomaly.public_id,
            "kind": anomaly.kind,
            "subject": anomaly.subject,
            "severity": anomaly.severity,
            "status": anomaly.status,
            "summary": anomaly.summary,
            "started_at": anomaly.started_at.isoformat().replace("+00:00", "Z"),
            "resolved_at": anomaly.resolved_at.isoformat().replace("+00:00", "Z")
            if anomaly.resolved_at
            else None,
            "figures": services.figures_of(anomaly.evidence),
            "url": settings.TRACKLAYER_BASE_URL + path,
        },
    }


def _quiet(anomaly: Anomaly, alert_settings: AlertSettings, channel: str) -> bool:
    """An earlier anomaly of the same kind and subject was alerted on this channel within the
    quiet period."""
    since = anomaly.started_at - timedelta(minutes=alert_settings.quiet_minutes)
    earlier = Anomaly.objects.filter(
        workspace_id=anomaly.workspace_id,
        kind=anomaly.kind,
        subject=anomaly.subject,
        started_at__gte=since,
        started_at__lte=anomaly.started_at,
    ).exclude(pk=anomaly.pk)
    return any(row.alerts.get("opened", {}).get(channel, {}).get("sent_at") for row in earlier)


def _skip(anomaly: Anomaly, transition: str, channel: str, alert_settings) -> str | None:
    """Why this alert is not sent, or None."""
    done = anomaly.alerts.get(transition, {}).get(channel, {})
    if done.get("sent_at") or done.get("skipped"):
        return "already"
    if SEVERITY_RANK[anomaly.severity] < SEVERITY_RANK[alert_settings.min_severity]:
        return "below_min_severity"
    if transition == "opened" and _quiet(anomaly, alert_settings, channel):
        return "quiet_period"
    if transition == "resolved" and not anomaly.alerts.get("opened", {}).get(channel, {}).get(
        "sent_at"
    ):
        return "opening_not_alerted"
    return None


def alert_send(*, anomaly: Anomaly, transition: str) -> list[Outcome]:
    """Send the e-mail and the webhook for one transition, each at most once. Raises
    ``AlertRetry`` when the webhook failed in a way a retry may fix (after recording it)."""
    if transition not in TRANSITIONS:
        raise ValueError(transition)
    if anomaly.workspace.deleted_at is not None:
        return []  # deleted (or purged) since: nobody hears of it any more
    alert_settings = AlertSettings.objects.filter(workspace_id=anomaly.workspace_id).first()
    if alert_settings is None:
        return []
    outcomes = []
    # Members chosen who are still members: someone removed since hears nothing more.
    recipients = sorted(
        alert_settings.email_members.filter(memberships__workspace_id=anomaly.workspace_id)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    channels = []
    if recipients:
        channels.append("email")
    if alert_settings.webhook_url and alert_settings.webhook_secret_encrypted:
        channels.append("webhook")
    retry = None
    for channel in channels:
        reason = _skip(anomaly, transition, channel, alert_settings)
        if reason == "already":
            continue
        if reason is not None:
            result = {"skipped": reason}
        elif channel == "email":
            result = _email(anomaly, transition, recipients)
        else:
            result = _webhook(anomaly, transition, alert_settings)
            if result.get("retry"):
                retry = result["error"]
        services.anomaly_alert_record(
            anomaly_id=anomaly.pk, transition=transition, channel=channel, result=result
        )
        anomaly.refresh_from_db(fields=["alerts"])
        outcomes.append(Outcome(channel, result))
    if retry:
        raise AlertRetry(retry)
    return outcomes


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _email(anomaly: Anomaly, transition: str, recipients: list[str]) -> dict:
    body = message(anomaly, transition)["anomaly"]
    prefix = "Resolved" if transition == "resolved" else f"{anomaly.severity.capitalize()} anomaly"
    lines = [
        anomaly.summary,
        "",
        f"Workspace: {anomaly.workspace.name}",
        f"Kind: {anomaly.get_kind_display()}",
        f"Subject: {anomaly.subject or '(the workspace)'}",
        f"Severity: {anomaly.severity}",
        f"Started: {body['started_at']}",
    ]
    if body["resolved_at"]:
        lines.append(f"Resolved: {body['resolved_at']}")
    lines += ["", body["url"]]
    send_mail(
        subject=f"[TrackLayer] {prefix} in {anomaly.workspace.name}: {anomaly.summary}"[:200],
        message="\n".join(lines),
        from_email=None,
        recipient_list=recipients,
    )
    return {"sent_at": _now(), "recipients": len(recipients)}


def _webhook(anomaly: Anomaly, transition: str, alert_settings: AlertSettings) -> dict:
    body = json.dumps(message(anomaly, transition), separators=(",", ":")).encode()
    secret = services.alert_secret(alert_settings)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header([secret], int(time.time()), body),
        IDEMPOTENCY_HEADER: f"{anomaly.public_id}:{transition}",
    }
    answer = http.post(alert_settings.webhook_url, body, headers=headers, timeout=TIMEOUT)
    if answer.ok:
        return {"sent_at": _now(), "status": answer.status}
    retryable = answer.failure != "refused" and (
        answer.status is None or answer.status in (408, 429) or answer.status >= 500
    )
    return {
        "error": answer.error or f"HTTP {answer.status}",
        "status": answer.status,
        "retry": retryable,
        "at": _now(),
    }
