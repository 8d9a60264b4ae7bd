"""The destinations' forwarder of deletions (see the package's docstring).

Guarantees:

- Nothing is sent in clear: webhooks get the notice's hashes; GA4 gets the client ids and
  user ids (the hashed external id) it was sent, recomputed from the subject's stored events
  with the GA4 adapter's own functions before those events are deleted, and kept in the
  region's working data until each is accepted.
- Idempotent and resumable: a destination whose result is final is never sent to again; a
  GA4 id accepted once is forgotten, so a run after a failure sends only what is left.
- A result's ``detail`` never quotes a platform's answer (it may echo what was sent): it goes
  into the request, the audit log and the receipt.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings

from destinations.adapters import ga4, webhook
from destinations.delivery.mapping import Claimed, ClaimedEvent, outgoing_event
from destinations.models import Destination, DestinationType
from destinations.routing.secrets import destination_secrets
from privacy.consent import ConsentAction
from privacy.requests import forwarding, work
from privacy.requests.forwarding import ForwardingNotice
from tracklayer import http
from tracklayer.keyring import KeyringError

log = logging.getLogger(__name__)

# Neither API has a way to delete what it received (their references document sending
# events only; Segment's list of destinations it forwards deletions to has neither):
# docs/destinations-ga4-webhook.md, "Data-subject requests".
NOT_SUPPORTED = {
    DestinationType.META_CAPI: (
        "Meta's Conversions API only receives events: it has no endpoint to delete events "
        "already sent. Deleting this person's data at Meta is yours to arrange (Meta Business "
        "Tools Terms)."
    ),
    DestinationType.TIKTOK_EVENTS: (
        "TikTok's Events API only receives events: it has no endpoint to delete events "
        "already sent. Deleting this person's data at TikTok is yours to arrange (TikTok "
        "Business Products (Data) Terms)."
    ),
}
GA4_NOT_CONFIGURED = (
    "Not forwarded: set the GA4 property ID and a service account key (with the User "
    "Deletion API) on this destination to forward deletions."
)
SECRETS_UNREADABLE = "The secrets cannot be opened."
ID_KINDS = {"CLIENT_ID": "c", "USER_ID": "u"}


def _result(destination: Destination, status: str, detail: str, **extra) -> dict:
    return {
        "destination": destination.name,
        "type": destination.type,
        "status": status,
        "detail": detail,
        **extra,
    }


def _failed(destination: Destination, detail: str, previous: dict) -> dict:
    """A failure before anything was sent: GA4's counts (``ids``, ``deleted``) are kept, for
    the next run reports against them."""
    counts = {key: previous[key] for key in ("ids", "deleted") if key in previous}
    return _result(destination, forwarding.FAILED, detail, **counts)


def _ids_key(destination: Destination, id_type: str) -> str:
    return f"g{destination.pk}.{ID_KINDS[id_type]}"


def _secrets(destination: Destination) -> dict | None:
    try:
        return destination_secrets(destination)
    except KeyringError:
        log.warning("forwarding: the secrets of %s cannot be opened", destination.public_id)
        return None


class DestinationForwarder:
    """``privacy.requests.forwarding.Forwarder`` for the workspace's destinations."""

    def prepare(self, notice: ForwardingNotice, results: dict[str, dict]) -> dict[str, dict]:
        prepared = {}
        destinations = Destination.objects.filter(
            workspace=notice.workspace, deleted_at__isnull=True
        ).order_by("pk")
        for destination in destinations:
            if destination.public_id in results:
                continue
            prepared[destination.public_id] = self._prepare_one(notice, destination)
        return prepared

    def _prepare_one(self, notice: ForwardingNotice, destination: Destination) -> dict:
        if destination.type in NOT_SUPPORTED:
            return _result(destination, forwarding.NOT_SUPPORTED, NOT_SUPPORTED[destination.type])
        if destination.type == DestinationType.WEBHOOK:
            return _result(destination, forwarding.PENDING, "")
        if destination.type != DestinationType.GA4_MP:
            return _result(destination, forwarding.NOT_SUPPORTED, "No way to forward a deletion.")
        secrets = _secrets(destination)
        # A property ID is only saved with a key (``GA4Adapter.validate_config``): with secrets
        # that cannot be opened now, it alone says deletions are configured, and the ids are
        # read all the same — the events they come from are about to be deleted.
        configured = (
            ga4.deletion_configured(destination.config, secrets)
            if secrets is not None
            else bool(destination.config.get("property_id"))
        )
        if not configured:
            return _result(destination, forwarding.NOT_CONFIGURED, GA4_NOT_CONFIGURED)
        ids = ga4_ids(notice, destination)
        for id_type in ID_KINDS:
            work.forward_ids_place(
                notice.workspace,
                notice.request_id,
                _ids_key(destination, id_type),
                sorted({value for kind, value in ids if kind == id_type}),
            )
        if secrets is None:
            return _result(
                destination, forwarding.FAILED, SECRETS_UNREADABLE, ids=len(ids), deleted=0
            )
        return _result(destination, forwarding.PENDING, "", ids=len(ids), deleted=0)

    def forward(self, notice: ForwardingNotice, results: dict[str, dict]) -> dict[str, dict]:
        changed = {}
        unfinished = forwarding.unfinished(results)
        if not unfinished:
            return changed
        found = {
            d.public_id: d
            for d in Destination.objects.filter(
                workspace=notice.workspace, public_id__in=list(unfinished)
            )
        }
        for key, previous in unfinished.items():
            destination = found.get(key)
            if destination is None or destination.deleted_at is not None:
                changed[key] = {
                    **previous,
                    "status": forwarding.SKIPPED,
                    "detail": "The destination was deleted before the deletion was forwarded.",
                }
                continue
            try:
                changed[key] = self._forward_one(notice, destination, previous)
            except Exception as error:  # one destination's fault never stops the others
                log.exception("forwarding %s to %s failed", notice.request_id, key)
                changed[key] = _failed(
                    destination, f"TrackLayer error: {type(error).__name__}", previous
                )
        return changed

    def _forward_one(
        self, notice: ForwardingNotice, destination: Destination, previous: dict
    ) -> dict:
        secrets = _secrets(destination)
        if secrets is None:
            return _failed(destination, SECRETS_UNREADABLE, previous)
        if destination.type == DestinationType.WEBHOOK:
            return self._webhook(notice, destination, secrets)
        if destination.type == DestinationType.GA4_MP:
            return self._ga4(notice, destination, secrets, previous)
        return previous

    def _webhook(self, notice: ForwardingNotice, destination: Destination, secrets: dict) -> dict:
        request = webhook.notice_request(
            config=destination.config,
            secrets=secrets,
            request_id=notice.request_id,
            request_type=notice.request_type,
            workspace=notice.workspace.public_id,
            subjects=[subject.as_dict() for subject in notice.subjects],
            now=datetime.now(UTC),
        )
        answer = _post(request)
        accepted, detail = webhook.notice_outcome(answer.status, answer.error)
        extra = {"http_status": answer.status} if answer.status is not None else {}
        status = forwarding.SENT if accepted else forwarding.FAILED
        return _result(destination, status, detail, **extra)

    def _ga4(
        self, notice: ForwardingNotice, destination: Destination, secrets: dict, previous: dict
    ) -> dict:
        total = int(previous.get("ids", 0))
        left = [
            (id_type, value)
            for id_type in ID_KINDS
            for value in work.forward_ids(
                notice.workspace, notice.request_id, _ids_key(destination, id_type)
            )
        ]
        if not left:
            return _result(
                destination, forwarding.SENT, _ga4_detail(total), ids=total, deleted=total
            )
        if not ga4.deletion_configured(destination.config, secrets):
            return _result(
                destination,
                forwarding.FAILED,
                "The property ID or the service account key was removed: set them again.",
                ids=total,
                deleted=total - len(left),
            )
        now = datetime.now(UTC)
        answer = _post(ga4.token_request(config=destination.config, secrets=secrets, now=now))
        token, why = ga4.token_from_answer(answer.status, answer.body, answer.error)
        if token is None:
            extra = {"http_status": answer.status} if answer.status else {}
            return _result(
                destination,
                forwarding.FAILED,
                why,
                ids=total,
                deleted=total - len(left),
                **extra,
            )
        failed_status, failed_detail, remaining = None, "", 0
        for id_type, value in left:
            answer = _post(
                ga4.deletion_request(
                    config=destination.config, token=token, id_type=id_type, user_id=value
                )
            )
            accepted, detail = ga4.deletion_outcome(answer.status, answer.error)
            if accepted:
                work.forward_ids_done(
                    notice.workspace,
                    notice.request_id,
                    _ids_key(destination, id_type),
                    [value],
                )
            else:
                remaining += 1
                failed_status, failed_detail = answer.status, detail
        if remaining:
            extra = {"http_status": failed_status} if failed_status is not None else {}
            return _result(
                destination,
                forwarding.FAILED,
                f"{remaining} of {total} ids not accepted: {failed_detail}",
                ids=total,
                deleted=total - remaining,
                **extra,
            )
        return _result(destination, forwarding.SENT, _ga4_detail(total), ids=total, deleted=total)


def _ga4_detail(total: int) -> str:
    if not total:
        return "GA4 was sent no event of the subject: nothing to delete."
    return f"{total} user deletion request(s) accepted by the User Deletion API."


def _post(request) -> http.HttpResult:
    return http.post(
        request.url, request.body, headers=request.headers, timeout=settings.DELIVERY_HTTP_TIMEOUT
    )


def ga4_ids(notice: ForwardingNotice, destination: Destination) -> list[tuple[str, str]]:
    """The (type, id) pairs GA4 was sent for the request's events delivered to
    ``destination``: recomputed as the engine built them (``delivery.mapping``) with the
    adapter's own ``client_id_for``/user id rule, under the consent decision each delivery
    was sent with."""
    measurement_id = str(destination.config.get("measurement_id") or "")
    pairs: set[tuple[str, str]] = set()
    for row in work.matched_deliveries(notice.workspace, notice.request_id, [destination.pk]):
        decision = row["decision"] or {}
        if decision.get("action") == ConsentAction.BLOCK:
            continue
        claimed = Claimed(
            pk=row["delivery_id"],
            event_id=0,
            attempts=0,
            event=ClaimedEvent(
                message_id=row["message_id"],
                type=row["type"],
                name=row["name"],
                anonymous_id=row["anonymous_id"],
                timestamp=row["timestamp"],
                properties=row["properties"],
                context=row["context"],
                identifiers=row["identifiers"],
                consent=row["consent"],
            ),
            operational=None,
        )
        event = outgoing_event(
            claimed,
            destination,
            None,
            anonymized=decision.get("action") == ConsentAction.DELIVER_ANONYMIZED,
            spec=ga4.ADAPTER.spec,
            decision=decision,
        )
        pairs.update(ga4.deletion_ids(event, measurement_id))
    return sorted(pairs)


FORWARDER = DestinationForwarder()
