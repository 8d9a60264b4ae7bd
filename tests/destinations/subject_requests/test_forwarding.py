"""A deletion passed on downstream (in-process work, real HTTP to the local platforms): the
webhook receiver gets one signed notice with hashes only, GA4's stand-in one user deletion
per client id and user id it was sent, Meta and TikTok say ``not_supported``; a failing
receiver is ``failed`` and the next run sends to it — and only to it — again."""

import hashlib
import json

import pytest
from django.db import connections

from audit.advisory import QUEUED_WHILE_LOCKED
from audit.models import AuditEntry
from audit.services import audit_advisory_lock_disable, audit_advisory_lock_enable
from destinations.models import Event
from destinations.subject_requests import forwarder
from destinations.subject_requests.forwarder import DestinationForwarder
from privacy import pii
from privacy.models import DataSubjectRequest
from privacy.requests import forwarding, services
from tests.destinations.factories import DestinationFactory
from tests.destinations.subject_requests.conftest import (
    ADA,
    ADA_ANON,
    ADA_EMAIL,
    ADA_USER,
    PROPERTY_ID,
    deletions,
    ga4_ids_sent,
    notices,
)
from tests.privacy.requests.test_requests import working_rows

pytestmark = pytest.mark.django_db


def payload(entry: AuditEntry) -> dict:
    return json.loads(bytes(entry.material))["payload"]


def delete(workspace, admin_user, subject=ADA, type="delete"):
    request = services.dsr_create(
        workspace=workspace, actor=admin_user, type=type, subject=subject, enqueue=False
    )
    return request.public_id


def test_a_delete_is_forwarded_where_a_destination_has_a_way(
    shop, platforms, workspace, admin_user
):
    sent_before = ga4_ids_sent(platforms)
    assert ("USER_ID", pii.hashed("external_id", ADA_USER, spec="google")) in sent_before
    assert len([i for i in sent_before if i[0] == "CLIENT_ID"]) == 2  # by user id, by anon id

    request_id = delete(workspace, admin_user)
    assert services.dsr_run(request_id=request_id) == "completed"

    request = DataSubjectRequest.objects.get(public_id=request_id)
    results = request.forwarding
    assert results[shop.webhook.public_id]["status"] == "sent"
    assert results[shop.webhook.public_id]["http_status"] == 200
    assert results[shop.ga4.public_id]["status"] == "sent"
    assert results[shop.ga4.public_id]["ids"] == len(sent_before)
    assert results[shop.meta.public_id]["status"] == "not_supported"
    assert "no endpoint to delete" in results[shop.meta.public_id]["detail"]
    assert "no endpoint to delete" in results[shop.tiktok.public_id]["detail"]
    assert results[shop.tiktok.public_id]["status"] == "not_supported"

    # The receiver verified the signature (else 401) and holds one notice: hashes only.
    [notice] = notices(platforms)
    assert notice["request_id"] == request_id
    assert notice["request_type"] == "delete"
    assert notice["workspace"] == workspace.public_id
    [subject] = notice["subjects"]
    assert pii.hashed("em", ADA_EMAIL) in subject["email_sha256"]
    assert pii.hashed("em", ADA_EMAIL, spec="google") in subject["email_sha256"]
    assert subject["user_id_sha256"] == pii.hashed("external_id", ADA_USER)
    assert subject["anonymous_id_sha256"] == hashlib.sha256(ADA_ANON.encode()).hexdigest()
    assert "phone_sha256" not in subject
    text = str(notice).lower()
    for clear in (ADA_EMAIL.lower(), ADA_USER, ADA_ANON):
        assert clear not in text

    # GA4's stand-in got one upsert per id it was sent, for the configured property.
    got = deletions(platforms)
    assert {(d["id"]["type"], d["id"]["userId"]) for d in got} == sent_before
    assert {d["propertyId"] for d in got} == {PROPERTY_ID}
    assert len(got) == len(sent_before)

    # Completed entry and receipt carry the per-destination results (never identifiers).
    entry = AuditEntry.objects.get(event_type="privacy.request_completed", resource_id=request_id)
    assert payload(entry)["forwarding"] == results
    receipt = services.dsr_receipt(workspace=workspace, actor=admin_user, public_id=request_id)
    assert receipt["request"]["forwarding"] == results
    # Everything forwarded: nothing of the request is left in the region.
    assert working_rows("region_us", "privacy_requestsubject") == 0
    assert not Event.objects.for_workspace(workspace).exclude(message_id="g-1").exists()


def test_a_failing_receiver_is_failed_and_only_it_is_sent_again(
    shop, platforms, workspace, admin_user
):
    platforms.behave("webhook", mode="error", status=500)
    request_id = delete(workspace, admin_user)
    assert services.dsr_run(request_id=request_id) == "completed"  # not failed for that

    request = DataSubjectRequest.objects.get(public_id=request_id)
    webhook = request.forwarding[shop.webhook.public_id]
    assert (webhook["status"], webhook["http_status"], webhook["attempts"]) == ("failed", 500, 1)
    assert request.forwarding[shop.ga4.public_id]["status"] == "sent"
    assert notices(platforms) == []
    sent_to_ga4 = len(deletions(platforms))
    assert services.forwarding_retry_due(request) == forwarding.RETRY_DELAYS[0]
    # The notice's hashes wait in the region for the next run.
    assert working_rows("region_us", "privacy_requestsubject") > 0

    platforms.behave("webhook")  # the receiver is back
    assert services.dsr_run(request_id=request_id) == "completed"

    request.refresh_from_db()
    webhook = request.forwarding[shop.webhook.public_id]
    assert (webhook["status"], webhook["attempts"]) == ("sent", 2)
    assert len(notices(platforms)) == 1
    assert len(deletions(platforms)) == sent_to_ga4  # GA4 was not sent anything again
    retried = AuditEntry.objects.get(event_type="privacy.request_forwarded")
    assert list(payload(retried)["forwarding"]) == [shop.webhook.public_id]
    assert services.forwarding_retry_due(request) is None
    assert working_rows("region_us", "privacy_requestsubject") == 0

    # A further run sends nothing.
    assert services.dsr_run(request_id=request_id) == "completed"
    assert len(notices(platforms)) == 1


def test_a_retry_sends_outside_any_transaction_and_a_result_saved_meanwhile_stands(
    shop, platforms, workspace, admin_user, monkeypatch
):
    """Sending may wait for timeouts (GA4: one request per id): no transaction, no row lock is
    held meanwhile. A run that saved first (two workers on one retry) keeps its result."""
    platforms.behave("webhook", mode="error", status=500)
    request_id = delete(workspace, admin_user)
    services.dsr_run(request_id=request_id)
    platforms.behave("webhook")
    depth = len(connections["default"].atomic_blocks)  # the test's own transaction
    original = DestinationForwarder._webhook
    seen = []

    def webhook(self, notice, destination, secrets):
        seen.append(len(connections["default"].atomic_blocks))
        result = original(self, notice, destination, secrets)
        # Another worker's run of the same retry saved its result meanwhile.
        row = DataSubjectRequest.objects.get(public_id=request_id)
        row.forwarding[destination.public_id] = {**result, "detail": "the other run"}
        row.save(update_fields=["forwarding"])
        return result

    monkeypatch.setattr(DestinationForwarder, "_webhook", webhook)
    services.dsr_run(request_id=request_id)
    assert seen == [depth]
    request = DataSubjectRequest.objects.get(public_id=request_id)
    assert request.forwarding[shop.webhook.public_id]["detail"] == "the other run"
    assert not AuditEntry.objects.filter(event_type="privacy.request_forwarded").exists()


def test_failures_are_given_up_after_the_last_attempt(shop, platforms, workspace, admin_user):
    platforms.behave("webhook", mode="error", status=503)
    request_id = delete(workspace, admin_user)
    for _ in range(forwarding.MAX_ATTEMPTS):
        services.dsr_run(request_id=request_id)
    request = DataSubjectRequest.objects.get(public_id=request_id)
    webhook = request.forwarding[shop.webhook.public_id]
    assert (webhook["status"], webhook["attempts"], webhook["given_up"]) == (
        "failed",
        forwarding.MAX_ATTEMPTS,
        True,
    )
    assert services.forwarding_retry_due(request) is None
    assert working_rows("region_us", "privacy_requestsubject") == 0


def test_a_ga4_destination_without_deletion_settings_is_not_configured(
    platforms, workspace, admin_user
):
    ga4 = DestinationFactory(workspace=workspace, type="ga4_mp")
    request_id = delete(workspace, admin_user, subject={"email": ADA_EMAIL})
    services.dsr_run(request_id=request_id)
    result = DataSubjectRequest.objects.get(public_id=request_id).forwarding[ga4.public_id]
    assert result["status"] == "not_configured"
    assert "property ID and a service account key" in result["detail"]


def test_access_and_suppress_forward_nothing(shop, platforms, workspace, admin_user):
    for kind in ("access", "suppress"):
        request_id = delete(workspace, admin_user, type=kind)
        services.dsr_run(request_id=request_id)
        assert DataSubjectRequest.objects.get(public_id=request_id).forwarding == {}
    assert notices(platforms) == [] and deletions(platforms) == []


def test_suppress_with_delete_is_forwarded(shop, platforms, workspace, admin_user):
    request_id = delete(workspace, admin_user, type="suppress_with_delete")
    services.dsr_run(request_id=request_id)
    [notice] = notices(platforms)
    assert notice["request_type"] == "suppress_with_delete"


def test_a_resumed_delete_forwards_once(shop, platforms, workspace, admin_user):
    """Stopped after a batch (a crash): the ids GA4 needs were read before the first row
    went; the resumed run deletes the rest and forwards once."""
    sent_before = ga4_ids_sent(platforms)
    request_id = delete(workspace, admin_user)
    assert services.dsr_run(request_id=request_id, batch_size=1, max_batches=1) == "running"
    assert notices(platforms) == [] and deletions(platforms) == []
    assert services.dsr_run(request_id=request_id) == "completed"
    assert len(notices(platforms)) == 1
    assert {(d["id"]["type"], d["id"]["userId"]) for d in deletions(platforms)} == sent_before


def test_one_destinations_error_never_stops_the_others(
    shop, platforms, workspace, admin_user, monkeypatch
):
    def broken(self, *args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(DestinationForwarder, "_webhook", broken)
    request_id = delete(workspace, admin_user)
    assert services.dsr_run(request_id=request_id) == "completed"
    results = DataSubjectRequest.objects.get(public_id=request_id).forwarding
    assert results[shop.webhook.public_id]["status"] == "failed"
    assert results[shop.webhook.public_id]["detail"] == "TrackLayer error: RuntimeError"
    assert results[shop.ga4.public_id]["status"] == "sent"


def test_a_ga4_error_keeps_its_counts_for_the_retry(
    shop, platforms, workspace, admin_user, monkeypatch
):
    """An unexpected error on GA4's first run: the retry still reports against every id read
    before the events went (not "0 ids", not a negative ``deleted``)."""
    sent_before = ga4_ids_sent(platforms)
    original = DestinationForwarder._ga4

    def broken(self, *args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(DestinationForwarder, "_ga4", broken)
    request_id = delete(workspace, admin_user)
    services.dsr_run(request_id=request_id)
    ga4 = DataSubjectRequest.objects.get(public_id=request_id).forwarding[shop.ga4.public_id]
    assert (ga4["status"], ga4["ids"], ga4["deleted"]) == ("failed", len(sent_before), 0)

    monkeypatch.setattr(DestinationForwarder, "_ga4", original)
    services.dsr_run(request_id=request_id)
    ga4 = DataSubjectRequest.objects.get(public_id=request_id).forwarding[shop.ga4.public_id]
    assert (ga4["status"], ga4["ids"], ga4["deleted"]) == (
        "sent",
        len(sent_before),
        len(sent_before),
    )
    assert {(d["id"]["type"], d["id"]["userId"]) for d in deletions(platforms)} == sent_before


def test_ga4_secrets_unreadable_at_first_still_delete_every_id(
    shop, platforms, workspace, admin_user, monkeypatch
):
    """The secrets cannot be opened while the request runs (a keyring fault): the ids are read
    before the events go all the same, and once the secrets open again every one is deleted —
    never a "sent" with nothing sent."""
    sent_before = ga4_ids_sent(platforms)
    real = forwarder._secrets
    monkeypatch.setattr(forwarder, "_secrets", lambda d: None if d.type == "ga4_mp" else real(d))
    request_id = delete(workspace, admin_user)
    services.dsr_run(request_id=request_id)
    ga4 = DataSubjectRequest.objects.get(public_id=request_id).forwarding[shop.ga4.public_id]
    assert (ga4["status"], ga4["ids"]) == ("failed", len(sent_before))
    assert deletions(platforms) == []

    monkeypatch.setattr(forwarder, "_secrets", real)
    services.dsr_run(request_id=request_id)
    ga4 = DataSubjectRequest.objects.get(public_id=request_id).forwarding[shop.ga4.public_id]
    assert (ga4["status"], ga4["deleted"]) == ("sent", len(sent_before))
    assert {(d["id"]["type"], d["id"]["userId"]) for d in deletions(platforms)} == sent_before


@pytest.mark.skipif(
    "privacy.request_forwarded" not in QUEUED_WHILE_LOCKED,
    reason="needs privacy.request_forwarded in audit.advisory.QUEUED_WHILE_LOCKED (lead's diff)",
)
def test_forwarding_goes_on_under_the_advisory_lock(shop, platforms, workspace, admin_user):
    platforms.behave("webhook", mode="error", status=500, count=1)
    key = audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    request_id = delete(workspace, admin_user)
    assert services.dsr_run(request_id=request_id) == "completed"
    assert services.dsr_run(request_id=request_id) == "completed"  # the retry, still locked
    request = DataSubjectRequest.objects.get(public_id=request_id)
    assert request.forwarding[shop.webhook.public_id]["status"] == "sent"
    assert len(notices(platforms)) == 1
    audit_advisory_lock_disable(workspace=workspace, actor=admin_user, key=key)
    assert AuditEntry.objects.filter(event_type="privacy.request_forwarded").exists()


def test_a_retry_without_its_working_data_gives_up_saying_why(
    shop, platforms, workspace, admin_user
):
    platforms.behave("webhook", mode="error", status=500)
    request_id = delete(workspace, admin_user)
    services.dsr_run(request_id=request_id)
    with connections["region_us"].cursor() as cursor:  # as a region move leaves it
        cursor.execute("DELETE FROM privacy_requestsubject")

    services.dsr_run(request_id=request_id)
    request = DataSubjectRequest.objects.get(public_id=request_id)
    webhook = request.forwarding[shop.webhook.public_id]
    assert (webhook["status"], webhook["given_up"]) == ("failed", True)
    assert "region move" in webhook["detail"]
    assert services.forwarding_retry_due(request) is None


def test_the_requests_page_shows_each_destinations_result(
    shop, platforms, workspace, admin_user, client
):
    request_id = delete(workspace, admin_user)
    services.dsr_run(request_id=request_id)
    client.force_login(admin_user)
    page = client.get(f"/w/{workspace.slug}/privacy/requests/{request_id}/").content.decode()
    assert f'data-destination="{shop.meta.public_id}"' in page
    assert 'data-status="not_supported"' in page
    assert "(HTTP 200)" in page  # the webhook's answer
    assert "no endpoint to delete" in page
