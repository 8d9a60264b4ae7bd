"""The audit log's advisory lock never stops a data-subject request (needs
``privacy.request_created`` and ``privacy.request_completed`` in
``audit.advisory.QUEUED_WHILE_LOCKED``): the work is done, its entries are queued, and the
receipt is pending until the lock lifts, then verifies."""

import pytest

from audit.models import AuditEntry
from audit.services import audit_advisory_lock_disable, audit_advisory_lock_enable
from privacy.models import DataSubjectRequest
from privacy.requests import services
from privacy.requests.receipt import verify_receipt
from tests.privacy.requests.conftest import EMAIL, ingest

pytestmark = pytest.mark.django_db


def test_a_delete_goes_through_under_the_lock(admin_api, workspace, admin_user, make_api_key):
    ingest(make_api_key, workspace)
    key = audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    answer = admin_api.post(
        "data_subject_requests", {"type": "delete", "subject": {"email": EMAIL}}
    )
    assert answer.status_code == 202, answer.content
    request_id = answer.json()["id"]
    assert services.dsr_run(request_id=request_id) == "completed"

    assert DataSubjectRequest.objects.get(public_id=request_id).counts["events"] == 2
    assert not AuditEntry.objects.filter(event_type__startswith="privacy.").exists()
    receipt = admin_api.get(f"data_subject_requests/{request_id}/receipt").json()
    assert receipt["status"] == "pending"

    audit_advisory_lock_disable(workspace=workspace, actor=admin_user, key=key)
    receipt = admin_api.get(f"data_subject_requests/{request_id}/receipt").json()
    assert receipt["status"] == "verifiable"
    assert verify_receipt(receipt, vkey=receipt["verifier_key"])["valid"]
