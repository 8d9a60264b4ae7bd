"""End to end through a real Celery worker: a delete made through the API for a subject
whose events the engine delivered to the local webhook receiver and to a GA4 property
configured for user deletion. The receiver's first answer is a 500: its result is
``failed`` while GA4's deletions go through and Meta and TikTok say ``not_supported``; the
run queued again sends the notice — only the notice — and the receipt, verified offline,
carries every result; no identifier of the subject is left anywhere in clear."""

import json

import pytest

from audit.models import AuditEntry
from privacy.models import DataSubjectRequest
from privacy.requests.receipt import verify_receipt
from privacy.requests.tasks import dsr_enqueue
from tests.destinations.subject_requests.conftest import (
    ADA,
    ADA_ANON,
    ADA_EMAIL,
    ADA_USER,
    deletions,
    ga4_ids_sent,
    notices,
)
from tests.destinations.worker import celery_worker, wait_for
from tests.privacy.requests.conftest import Api, scan
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db(transaction=True)


def request_of(request_id: str) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_related("workspace").get(public_id=request_id)


def test_a_delete_is_forwarded_through_the_worker(
    tmp_path, shop, platforms, workspace, make_api_key
):
    sent_before = ga4_ids_sent(platforms)
    assert len(sent_before) == 3  # two client ids (by user id, by anonymous id), one user id
    api = Api(make_api_key(workspace, role=ApiKeyRole.ADMIN, name="admin")[1])
    platforms.behave("webhook", mode="error", status=500, count=1)

    with celery_worker(tmp_path, beat=False):
        answer = api.post("data_subject_requests", {"type": "delete", "subject": ADA})
        assert answer.status_code == 202, answer.content
        request_id = answer.json()["id"]
        wait_for(
            lambda: request_of(request_id).status == "completed", message="the delete completed"
        )
        results = request_of(request_id).forwarding
        assert results[shop.webhook.public_id]["status"] == "failed"
        assert results[shop.webhook.public_id]["http_status"] == 500
        assert results[shop.ga4.public_id]["status"] == "sent"
        assert results[shop.meta.public_id]["status"] == "not_supported"
        assert results[shop.tiktok.public_id]["status"] == "not_supported"
        assert notices(platforms) == []
        ga4_deleted = {(d["id"]["type"], d["id"]["userId"]) for d in deletions(platforms)}
        assert ga4_deleted == sent_before

        dsr_enqueue(request_of(request_id))  # what the task's own retry does a minute later
        wait_for(
            lambda: request_of(request_id).forwarding[shop.webhook.public_id]["status"] == "sent",
            message="the notice was sent again",
        )

    # The receiver verified one signed notice; GA4 was sent nothing twice.
    [notice] = notices(platforms)
    assert notice["request_id"] == request_id
    assert len(deletions(platforms)) == len(sent_before)

    api_view = api.get(f"data_subject_requests/{request_id}").json()
    assert api_view["forwarding"][shop.webhook.public_id]["status"] == "sent"
    completed = AuditEntry.objects.get(
        event_type="privacy.request_completed", resource_id=request_id
    )
    assert json.loads(bytes(completed.material))["payload"]["forwarding"] == results
    receipt = api.get(f"data_subject_requests/{request_id}/receipt").json()
    proven = verify_receipt(receipt, vkey=receipt["verifier_key"])["entry"]["payload"]
    assert proven["forwarding"][shop.ga4.public_id]["ids"] == 3
    assert receipt["request"]["forwarding"][shop.webhook.public_id]["status"] == "sent"

    clear = [ADA_EMAIL, ADA_EMAIL.lower(), ADA_USER, ADA_ANON]
    assert scan("region_us", clear) == []
    assert scan("default", clear) == []
    text = json.dumps(notice) + json.dumps(receipt) + json.dumps(api_view)
    assert not any(value.lower() in text.lower() for value in clear)
