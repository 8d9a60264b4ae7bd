"""Data-subject requests through a real Celery worker: the request made through the API is
queued after commit on the workspace's region queue, and only that region's worker carries
it out; the receipt of the result verifies offline."""

import pytest
from django.conf import settings

from destinations.models import Event
from privacy.models import DataSubjectRequest
from privacy.requests.receipt import verify_receipt
from privacy.requests.tasks import dsr_enqueue
from tests.destinations.worker import celery_worker, wait_for
from tests.factories import WorkspaceFactory
from tests.privacy.requests.conftest import ANON, EMAIL, USER_ID, ada_values, ingest, scan

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"user_id": USER_ID, "anonymous_id": ANON, "email": EMAIL}


def status_of(request_id: str) -> str:
    return DataSubjectRequest.objects.get(public_id=request_id).status


def test_a_delete_runs_on_its_regions_worker_only(tmp_path, admin_user, api_for, make_api_key):
    europa = WorkspaceFactory(name="Europa", owner=admin_user, region="eu")
    union = WorkspaceFactory(name="Union", owner=admin_user, region="us")
    for workspace in (europa, union):
        ingest(make_api_key, workspace)
    eu_api, us_api = api_for(europa), api_for(union)

    with celery_worker(tmp_path, beat=False, queues=[settings.CELERY_REGION_QUEUES["eu"]]):
        eu_request = eu_api.post("data_subject_requests", {"type": "delete", "subject": ADA})
        us_request = us_api.post("data_subject_requests", {"type": "delete", "subject": ADA})
        assert eu_request.status_code == us_request.status_code == 202
        eu_id, us_id = eu_request.json()["id"], us_request.json()["id"]
        wait_for(lambda: status_of(eu_id) == "completed", message="the EU request completed")
        # The US request waits for a US worker.
        assert status_of(us_id) == "pending"

    assert Event.objects.for_workspace(europa).count() == 1
    assert Event.objects.for_workspace(union).count() == 5
    assert scan("region_eu", ada_values()) == []
    receipt = eu_api.get(f"data_subject_requests/{eu_id}/receipt").json()
    assert receipt["status"] == "verifiable"
    assert (
        verify_receipt(receipt, vkey=receipt["verifier_key"])["entry"]["payload"]["counts"][
            "events"
        ]
        == 4
    )

    with celery_worker(tmp_path, beat=False, queues=[settings.CELERY_REGION_QUEUES["us"]]):
        # The helper empties the broker when a worker starts: queue the request once more (a
        # redelivery does the same in production).
        dsr_enqueue(DataSubjectRequest.objects.select_related("workspace").get(public_id=us_id))
        wait_for(lambda: status_of(us_id) == "completed", message="the US request completed")
    assert Event.objects.for_workspace(union).count() == 1


def test_access_and_suppress_through_the_worker(tmp_path, workspace, admin_api, make_api_key):
    ingest(make_api_key, workspace)
    with celery_worker(tmp_path, beat=False):
        access = admin_api.post(
            "data_subject_requests", {"type": "access", "subject": {"email": EMAIL}}
        ).json()["id"]
        suppress = admin_api.post(
            "data_subject_requests", {"type": "suppress", "subject": {"email": EMAIL}}
        ).json()["id"]
        wait_for(
            lambda: status_of(access) == status_of(suppress) == "completed",
            message="both completed",
        )
    export = admin_api.get(f"data_subject_requests/{access}/export").json()
    assert sorted(event["message_id"] for event in export["events"]) == ["m-1", "m-3"]
    assert DataSubjectRequest.objects.get(public_id=suppress).suppressions == {"added": 1}
