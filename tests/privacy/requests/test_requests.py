"""Issue 15, data-subject requests (P1): the API's validation, each type carried out by the
work (in-process: ``services.dsr_run``, the task's body), nothing of a deleted subject left
in any column of the region or the control plane, resuming, the receipt checked offline, and
a workspace's region only."""

import json

import pytest
from django.db import connections

from audit.models import AuditEntry
from destinations.models import Delivery, DeliveryAttempt, Event, EventMessageId, EventOperational
from privacy.models import DataSubjectRequest, Suppression
from privacy.requests import services
from privacy.requests.receipt import ReceiptError, verify_receipt
from privacy.requests.selectors import suppressed_matcher
from tests.factories import WorkspaceFactory
from tests.privacy.requests.conftest import (
    ANON,
    EMAIL,
    PHONE,
    USER_ID,
    ada_values,
    ingest,
    scan,
)
from workspaces.models import ApiKeyRole, Workspace

pytestmark = pytest.mark.django_db

ADA = {"user_id": USER_ID, "anonymous_id": ANON, "email": EMAIL, "phone": PHONE}


def working_rows(alias: str, table: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - the test's own names
        return cursor.fetchone()[0]


def create(api, body):
    answer = api.post("data_subject_requests", body)
    assert answer.status_code == 202, answer.content
    return answer.json()


def run(request_id, **options):
    return services.dsr_run(request_id=request_id, **options)


# --- Validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"type": "erase", "subject": {"email": EMAIL}}, "type", "invalid_type"),
        ({"subject": {"email": EMAIL}}, "type", "required"),
        ({"type": "delete"}, "subject", "required"),
        ({"type": "delete", "subject": {}}, "subject", "no_identifier"),
        ({"type": "delete", "subject": {"email": ""}}, "subject", "no_identifier"),
        ({"type": "delete", "subject": "ada"}, "subject", "invalid_type"),
        ({"type": "delete", "subject": {"email": "not-an-email"}}, "subject.email", None),
        ({"type": "delete", "subject": {"phone": "12"}}, "subject.phone", None),
        ({"type": "delete", "subject": {"user_id": ["x"]}}, "subject.user_id", "invalid_type"),
        ({"type": "delete", "subject": {"name": "Ada"}}, "subject.name", "unknown_field"),
        ({"type": "delete", "subject": {"user_id": "x" * 101}}, "subject.user_id", "too_long"),
        ({"type": "delete", "subjects": []}, "subjects", None),
        ({"type": "delete", "subjects": {"email": EMAIL}}, "subjects", None),
        (
            {"type": "delete", "subjects": [{"email": EMAIL}, {"email": "nope"}]},
            "subjects[1].email",
            "invalid_email",
        ),
        (
            {"type": "delete", "subjects": [{"user_id": f"u{n}"} for n in range(5001)]},
            "subjects",
            "too_many",
        ),
        (
            {"type": "delete", "subject": {"email": EMAIL}, "subjects": [{"email": EMAIL}]},
            "subjects",
            None,
        ),
        ({"type": "delete", "subject": {"email": EMAIL}, "extra": 1}, "extra", None),
        ({"type": 5, "subject": {"email": EMAIL}}, "type", "invalid_type"),
        ({"type": "delete", "subject": {"anonymous_id": "a\ud800"}}, "subject.anonymous_id", None),
        ({"type": "delete", "subject": {"email": "a\ud800@x.com"}}, "subject.email", None),
        ({"type": "delete", "subject": {"x\ud800": "1"}}, "subject", "unknown_field"),
        ({"type": "delete", "subject": {"email": EMAIL, "\ud800": 1}}, "subject", None),
        ({"type": "delete", "subjects": [None]}, "subjects[0]", "invalid_type"),
        ({"type": "delete", "subject": {"email": "x" * 100_000}}, "subject.email", None),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin_api, body, field, code):
    answer = admin_api.post("data_subject_requests", body)

    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["field"] == field
    if code:
        assert error["code"] == code
    # The refusal never repeats the value.
    assert EMAIL not in answer.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(admin_api):
    answer = admin_api.post("data_subject_requests", ["delete"])
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("role", [ApiKeyRole.WRITE, "editor", "viewer"])
def test_only_admin_keys_may_make_or_read_requests(api_for, workspace, role):
    api = api_for(workspace, role=role)
    assert api.post("data_subject_requests", {"type": "delete", "subject": ADA}).status_code == 403
    assert api.get("data_subject_requests").status_code == 403
    assert not DataSubjectRequest.objects.exists()


def test_5000_subjects_are_accepted(admin_api):
    body = {"type": "suppress", "subjects": [{"user_id": f"u{n}"} for n in range(5000)]}
    created = create(admin_api, body)
    assert created["subjects"] == 5000
    assert created["status"] == "pending"


def test_created_request_keeps_keyed_hashes_only_and_is_audited_without_identifiers(
    admin_api, workspace
):
    created = create(admin_api, {"type": "delete", "subject": ADA})

    assert created["id"].startswith("dsr_")
    assert created["status"] == "pending"
    assert created["type"] == "delete"
    row = DataSubjectRequest.objects.get(public_id=created["id"])
    assert set(row.subjects[0]) == {"user_id", "anonymous_id", "email", "phone"}
    entry = AuditEntry.objects.get(workspace=workspace, event_type="privacy.request_created")
    assert json.loads(bytes(entry.material))["payload"] == {"type": "delete", "subjects": 1}
    # Neither the raw values nor the stores' SHA-256 hashes are in the control plane.
    assert scan("default", ada_values()) == []
    # The work's match hashes are in the region, and only there.
    assert working_rows("region_us", "privacy_requestsubject") > 0
    assert working_rows("region_eu", "privacy_requestsubject") == 0
    assert "privacy_requestsubject" not in connections["default"].introspection.table_names()


def test_list_filters_by_status_and_type_and_detail_reads_one(admin_api, workspace):
    first = create(admin_api, {"type": "suppress", "subject": {"email": EMAIL}})
    second = create(admin_api, {"type": "access", "subject": {"user_id": USER_ID}})
    run(first["id"])

    listed = admin_api.get("data_subject_requests").json()["data"]
    assert [item["id"] for item in listed] == [second["id"], first["id"]]
    completed = admin_api.get("data_subject_requests?status=completed").json()["data"]
    assert [item["id"] for item in completed] == [first["id"]]
    access = admin_api.get("data_subject_requests?type=access").json()["data"]
    assert [item["id"] for item in access] == [second["id"]]
    assert admin_api.get("data_subject_requests?status=done").status_code == 400
    detail = admin_api.get(f"data_subject_requests/{first['id']}").json()
    assert detail["status"] == "completed"
    assert detail["suppressions"] == {"added": 1}
    assert admin_api.get("data_subject_requests/dsr_nope").status_code == 404


def test_another_workspaces_request_is_not_found(admin_api, api_for, other_workspace):
    theirs = create(api_for(other_workspace), {"type": "suppress", "subject": {"email": EMAIL}})
    for path in ("", "/export", "/receipt"):
        answer = admin_api.get(f"data_subject_requests/{theirs['id']}{path}")
        assert answer.status_code == 404, path


# --- Delete -----------------------------------------------------------------------------------


def _counts(workspace):
    return {
        "events": Event.objects.for_workspace(workspace).count(),
        "operational": EventOperational.objects.for_workspace(workspace).count(),
        "message_ids": EventMessageId.objects.for_workspace(workspace).count(),
        "deliveries": Delivery.objects.for_workspace(workspace).count(),
        "attempts": DeliveryAttempt.objects.for_workspace(workspace).count(),
    }


def test_delete_removes_every_row_of_the_subject_and_nothing_else(
    admin_api, workspace, make_api_key
):
    grace = ingest(make_api_key, workspace)
    assert scan("region_us", ada_values())  # the scan does find her before

    created = create(admin_api, {"type": "delete", "subject": ADA})
    assert run(created["id"]) == "completed"

    # Every accepted event has its operational row (the request's IP address at least).
    expected = {"events": 4, "operational": 4, "message_ids": 4, "deliveries": 4, "attempts": 4}
    detail = admin_api.get(f"data_subject_requests/{created['id']}").json()
    assert detail["counts"] == expected
    assert detail["finished_at"]
    # Grace's rows are all still there.
    assert [e.pk for e in Event.objects.for_workspace(workspace)] == [grace.pk]
    assert _counts(workspace) == dict.fromkeys(expected, 1)
    # No column of the region or of the control plane holds Ada in clear or as a store hash,
    # and the request's working data is gone.
    assert scan("region_us", ada_values()) == []
    assert scan("default", ada_values()) == []
    assert working_rows("region_us", "privacy_requestsubject") == 0
    assert working_rows("region_us", "privacy_requestprogress") == 0
    entry = AuditEntry.objects.get(workspace=workspace, event_type="privacy.request_completed")
    payload = json.loads(bytes(entry.material))["payload"]
    assert payload["counts"] == expected
    assert payload["subjects"] == 1


def test_delete_by_email_alone_finds_events_that_only_hold_its_hash(
    admin_api, workspace, make_api_key
):
    ingest(make_api_key, workspace)
    created = create(admin_api, {"type": "delete", "subject": {"email": EMAIL.lower()}})
    run(created["id"])

    counts = DataSubjectRequest.objects.get(public_id=created["id"]).counts
    assert counts["events"] == 2  # the identify (traits) and the sign-up (context.traits)
    assert set(Event.objects.for_workspace(workspace).values_list("message_id", flat=True)) == {
        "m-2",
        "m-4",
        "g-1",
    }


def test_an_interrupted_delete_resumes_and_its_counts_stay_exact(
    admin_api, workspace, make_api_key
):
    ingest(make_api_key, workspace)
    created = create(admin_api, {"type": "delete", "subject": ADA})

    # One batch of one event, then the "worker dies".
    assert run(created["id"], batch_size=1, max_batches=1) == "running"
    assert DataSubjectRequest.objects.get(public_id=created["id"]).status == "running"
    assert Event.objects.for_workspace(workspace).count() == 4
    # Redelivered: it goes on from there.
    assert run(created["id"], batch_size=2) == "completed"

    request = DataSubjectRequest.objects.get(public_id=created["id"])
    assert request.counts == {
        "events": 4,
        "operational": 4,
        "message_ids": 4,
        "deliveries": 4,
        "attempts": 4,
    }
    assert Event.objects.for_workspace(workspace).count() == 1
    # A third run of a completed request changes nothing and appends nothing.
    assert run(created["id"]) == "completed"
    assert (
        AuditEntry.objects.filter(
            workspace=workspace, event_type="privacy.request_completed"
        ).count()
        == 1
    )


def test_a_request_whose_working_data_is_gone_fails_rather_than_finding_nothing(
    admin_api, workspace, make_api_key
):
    ingest(make_api_key, workspace)
    created = create(admin_api, {"type": "delete", "subject": ADA})
    # As after a region move (the working tables stay where they were written).
    with connections["region_us"].cursor() as cursor:
        cursor.execute("DELETE FROM privacy_requestsubject")

    assert run(created["id"]) == "failed"
    request = DataSubjectRequest.objects.get(public_id=created["id"])
    assert (request.status, request.error) == ("failed", "working_data_missing")
    assert Event.objects.for_workspace(workspace).count() == 5
    assert not AuditEntry.objects.filter(event_type="privacy.request_completed").exists()


def test_a_request_waits_while_its_workspace_moves(admin_api, workspace):
    created = create(admin_api, {"type": "access", "subject": {"user_id": USER_ID}})
    Workspace.objects.filter(pk=workspace.pk).update(moving_to="eu")

    assert run(created["id"]) == "pending"
    assert DataSubjectRequest.objects.get(public_id=created["id"]).status == "pending"

    Workspace.objects.filter(pk=workspace.pk).update(moving_to="")
    assert run(created["id"]) == "completed"


def test_an_eu_workspaces_rows_are_deleted_in_the_eu_only(
    admin_user, api_for, make_api_key, workspace
):
    europa = WorkspaceFactory(name="Europa", owner=admin_user, region="eu")
    ingest(make_api_key, europa)
    ingest(make_api_key, workspace)  # the same subject in a US workspace

    created = create(api_for(europa), {"type": "delete", "subject": ADA})
    run(created["id"])

    assert _counts(europa) == dict.fromkeys(
        ["events", "operational", "message_ids", "deliveries", "attempts"], 1
    )
    assert _counts(workspace)["events"] == 5
    assert scan("region_eu", ada_values()) == []
    assert scan("region_us", ada_values())  # the US workspace's own rows are untouched
    for alias in ("region_us", "region_eu"):
        assert working_rows(alias, "privacy_requestsubject") == 0
        assert working_rows(alias, "privacy_requestprogress") == 0


# --- Access -----------------------------------------------------------------------------------


def test_access_counts_and_exports_without_changing_anything(admin_api, workspace, make_api_key):
    ingest(make_api_key, workspace)
    before = _counts(workspace)
    created = create(admin_api, {"type": "access", "subject": {"user_id": USER_ID}})
    # Not yet completed: no export.
    assert admin_api.get(f"data_subject_requests/{created['id']}/export").status_code == 409
    run(created["id"])

    assert _counts(workspace) == before
    request = DataSubjectRequest.objects.get(public_id=created["id"])
    assert request.counts == {
        "events": 1,
        "operational": 1,
        "message_ids": 1,
        "deliveries": 1,
        "attempts": 1,
    }
    answer = admin_api.get(f"data_subject_requests/{created['id']}/export")
    assert answer.status_code == 200
    export = answer.json()
    [event] = export["events"]
    assert event["message_id"] == "m-1"
    assert event["identifiers"]["meta"]["em"] == request_hash("em", EMAIL)
    assert event["operational"] == {"ip": "203.0.113.7", "user_agent": "AdaBrowser/1.0"}
    assert event["deliveries"][0]["status"] == "dead"
    assert event["deliveries"][0]["destination"]["type"] == "meta_capi"
    assert event["deliveries"][0]["attempt_log"][0]["outcome"] == "failed"
    assert "consent" in event
    assert export["truncated"] is False
    # No export of another type.
    deleting = create(admin_api, {"type": "delete", "subject": {"user_id": "nobody"}})
    run(deleting["id"])
    assert admin_api.get(f"data_subject_requests/{deleting['id']}/export").status_code == 409


def request_hash(field, value):
    from privacy import pii

    return pii.hashed(field, value)


# --- Suppression ------------------------------------------------------------------------------


def _row(**values):
    row = {"user_id_hash": "", "anonymous_id": "", "identifiers": {}}
    row.update(values)
    return row


def test_suppress_then_unsuppress(admin_api, workspace):
    created = create(admin_api, {"type": "suppress", "subject": {"email": EMAIL, "user_id": "u9"}})
    run(created["id"])

    rows = list(Suppression.objects.filter(workspace=workspace).values("kind", "keyed_hash"))
    assert sorted(r["kind"] for r in rows) == ["email", "user_id"]
    matcher = suppressed_matcher(workspace)
    hit = matcher(_row(identifiers={"meta": {"em": request_hash("em", EMAIL.upper())}}))
    assert hit is not None and hit[0] == "email"
    assert matcher(_row(user_id_hash=request_hash("external_id", "u9")))[0] == "user_id"
    assert matcher(_row(anonymous_id="someone-else")) is None
    assert scan("default", [EMAIL, request_hash("em", EMAIL)]) == []

    lifted = create(admin_api, {"type": "unsuppress", "subject": {"email": EMAIL}})
    run(lifted["id"])

    assert DataSubjectRequest.objects.get(public_id=lifted["id"]).suppressions == {"removed": 1}
    matcher = suppressed_matcher(workspace)
    assert matcher(_row(identifiers={"meta": {"em": request_hash("em", EMAIL)}})) is None
    assert matcher(_row(user_id_hash=request_hash("external_id", "u9"))) is not None


def test_suppress_with_delete_does_both(admin_api, workspace, make_api_key):
    ingest(make_api_key, workspace)
    created = create(admin_api, {"type": "suppress_with_delete", "subject": ADA})
    run(created["id"])

    request = DataSubjectRequest.objects.get(public_id=created["id"])
    assert request.counts["events"] == 4
    assert request.suppressions == {"added": 4}
    assert suppressed_matcher(workspace)(_row(anonymous_id=ANON)) is not None
    assert scan("region_us", ada_values()) == []


def test_a_workspaces_suppressions_do_not_match_another_workspaces_events(
    admin_api, workspace, other_workspace
):
    run(create(admin_api, {"type": "suppress", "subject": {"anonymous_id": ANON}})["id"])
    assert suppressed_matcher(workspace)(_row(anonymous_id=ANON)) is not None
    assert suppressed_matcher(other_workspace)(_row(anonymous_id=ANON)) is None


# --- Receipt ----------------------------------------------------------------------------------


def test_the_receipt_verifies_offline_and_a_tampered_one_does_not(
    admin_api, workspace, make_api_key
):
    ingest(make_api_key, workspace)
    created = create(admin_api, {"type": "delete", "subject": ADA})
    pending = admin_api.get(f"data_subject_requests/{created['id']}/receipt").json()
    assert pending["status"] == "pending"
    run(created["id"])

    receipt = admin_api.get(f"data_subject_requests/{created['id']}/receipt").json()
    assert receipt["status"] == "verifiable"
    vkey = receipt["verifier_key"]
    result = verify_receipt(json.loads(json.dumps(receipt)), vkey=vkey)
    assert result["entry"]["payload"]["counts"]["events"] == 4
    assert result["entry"]["resource_id"] == created["id"]

    # A receipt for another request, or with a changed entry, or a foreign key: refused.
    for tamper in (
        lambda r: r["request"].update(id="dsr_other"),
        lambda r: r["entry"].update(material=r["entry"]["material"][:-4] + "AAAA"),
        lambda r: r["inclusion"].update(index=r["inclusion"]["index"] + 1),
    ):
        copy = json.loads(json.dumps(receipt))
        tamper(copy)
        with pytest.raises(ReceiptError):
            verify_receipt(copy, vkey=vkey)
    from audit.signed_note import generate_signer

    _, foreign = generate_signer(vkey.split("+")[0])
    with pytest.raises(ReceiptError):
        verify_receipt(receipt, vkey=foreign)
