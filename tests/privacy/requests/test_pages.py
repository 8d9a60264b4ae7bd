"""Issue 15, Privacy → Requests and Suppressed subjects pages (F2): admins only (as the API),
the form's refusals on their field, a made request listed and polled until done (the work run
in process with ``services.dsr_run``, the task's body), the receipt and export downloads, and
the suppression list showing keyed hashes only."""

import json

import pytest
from django.urls import reverse

from privacy.models import DataSubjectRequest, Suppression
from privacy.requests import services
from privacy.requests.receipt import verify_receipt
from tests.privacy.requests.conftest import EMAIL, USER_ID, ingest
from tracklayer.regions import queue_for

pytestmark = pytest.mark.django_db


def url(name, workspace, *args):
    return reverse(f"privacy:{name}", args=[workspace.slug, *args])


def make(client, workspace, **fields):
    return client.post(url("requests", workspace), fields)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


# --- Permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["editor_user", "viewer_user"])
def test_only_admins_see_the_pages_and_the_nav_link(client, workspace, admin_user, who, request):
    client.force_login(admin_user)
    request_row = services.dsr_create(
        workspace=workspace, actor=admin_user, type="suppress", subject={"email": EMAIL}
    )
    overview = client.get(reverse("monitoring:overview", args=[workspace.slug]))
    assert b'data-testid="nav-privacy-requests"' in overview.content

    client.force_login(request.getfixturevalue(who))
    pages = [
        client.get(url("requests", workspace)),
        client.post(url("requests", workspace), {"type": "delete", "email": EMAIL}),
        client.get(url("request", workspace, request_row.public_id)),
        client.get(url("request-receipt", workspace, request_row.public_id)),
        client.get(url("request-export", workspace, request_row.public_id)),
        client.get(url("suppressed", workspace)),
    ]
    assert [page.status_code for page in pages] == [403] * 6
    assert DataSubjectRequest.objects.filter(workspace=workspace).count() == 1
    overview = client.get(reverse("monitoring:overview", args=[workspace.slug]))
    assert overview.status_code == 200
    assert b'data-testid="nav-privacy-requests"' not in overview.content


def test_another_workspaces_request_is_not_found(
    admin_client, workspace, other_workspace, other_admin_user
):
    theirs = services.dsr_create(
        workspace=other_workspace,
        actor=other_admin_user,
        type="suppress",
        subject={"email": EMAIL},
        enqueue=False,
    )
    services.dsr_run(request_id=theirs.public_id)

    for name in ("request", "request-receipt", "request-export"):
        assert admin_client.get(url(name, workspace, theirs.public_id)).status_code == 404
        assert admin_client.get(url(name, workspace, "dsr_nope")).status_code == 404
    page = admin_client.get(url("requests", workspace))
    assert theirs.public_id.encode() not in page.content
    assert b"No requests yet." in page.content


# --- Create -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"type": "erase", "email": EMAIL}, "type", "Select a valid choice"),
        ({"type": "delete"}, None, "Give at least one identifier"),
        ({"type": "delete", "email": "not-an-email"}, "email", ""),
        ({"type": "delete", "phone": "12"}, "phone", ""),
        ({"type": "delete", "user_id": "x" * 101}, "user_id", "At most 100 characters"),
        ({"type": "delete", "subjects": "email:a@example.com\nnonsense"}, "subjects", "Line 2"),
        ({"type": "delete", "subjects": "email:a@example.com\nphone:12"}, "subjects", "Line 2"),
        (
            {"type": "delete", "subjects": "\n".join(f"user_id:u{i}" for i in range(5001))},
            "subjects",
            "At most 5,000 lines",
        ),
        (
            {"type": "delete", "email": EMAIL, "subjects": "user_id:u1"},
            "subjects",
            "not both",
        ),
    ],
)
def test_bad_input_is_a_422_with_the_error_on_its_field(
    admin_client, workspace, fields, field, text
):
    answer = make(admin_client, workspace, **fields)

    assert answer.status_code == 422
    form = answer.context["form"]
    errors = form.errors.get(field or "__all__")
    assert errors, form.errors
    assert text in " ".join(errors)
    assert not DataSubjectRequest.objects.filter(workspace=workspace).exists()
    for value in fields.values():
        if "@" in value:  # the identifier is not echoed in an error
            assert all(value not in error for error in errors)


def test_a_nul_byte_is_refused_before_the_form_and_nothing_is_made(admin_client, workspace):
    answer = make(admin_client, workspace, type="delete", email="a\x00b@example.com")

    assert answer.status_code == 400
    assert not DataSubjectRequest.objects.filter(workspace=workspace).exists()


def test_a_made_request_is_listed_polled_and_stops_polling_once_done(
    admin_client, workspace, make_api_key, django_capture_on_commit_callbacks, monkeypatch
):
    ingest(make_api_key, workspace)
    queued = []
    monkeypatch.setattr(
        "privacy.requests.tasks.dsr_run_task.apply_async",
        lambda args, queue: queued.append((args, queue)),
    )

    with django_capture_on_commit_callbacks(execute=True):
        answer = make(admin_client, workspace, type="access", user_id=USER_ID)

    assert answer.status_code == 302
    created = DataSubjectRequest.objects.get(workspace=workspace)
    assert queued == [([created.public_id], queue_for(workspace.region))]
    page = admin_client.get(url("requests", workspace))
    assert created.public_id.encode() in page.content
    assert b'hx-trigger="every 2s"' in page.content
    assert USER_ID.encode() not in page.content

    services.dsr_run(request_id=created.public_id)

    row = admin_client.get(url("request", workspace, created.public_id), HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    assert row.content.lstrip().startswith(b"<tr")
    assert b'data-status="completed"' in row.content
    assert b"hx-trigger" not in row.content
    assert b"events: 1" in row.content
    detail = admin_client.get(url("request", workspace, created.public_id))
    assert b'data-testid="receipt-link"' in detail.content
    assert b'data-testid="export-link"' in detail.content


def test_many_subjects_from_lines_make_one_request(admin_client, workspace):
    lines = "\n".join(["email:a@example.com", " user_id : u-2 ", "", "phone:+49 30 1234567"])

    answer = make(admin_client, workspace, type="suppress", subjects=lines)

    assert answer.status_code == 302
    created = DataSubjectRequest.objects.get(workspace=workspace)
    assert created.subject_count == 3
    assert created.type == "suppress"


# --- Downloads --------------------------------------------------------------------------------


def test_receipt_and_export_download(admin_client, admin_user, workspace, make_api_key):
    ingest(make_api_key, workspace)
    created = services.dsr_create(
        workspace=workspace,
        actor=admin_user,
        type="access",
        subject={"user_id": USER_ID},
        enqueue=False,
    )
    early = admin_client.get(url("request-export", workspace, created.public_id))
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "not_completed"
    pending = admin_client.get(url("request-receipt", workspace, created.public_id))
    assert pending.status_code == 200
    assert pending.json()["status"] == "pending"

    services.dsr_run(request_id=created.public_id)

    receipt = admin_client.get(url("request-receipt", workspace, created.public_id))
    assert receipt.status_code == 200
    assert receipt["Content-Disposition"] == (
        f'attachment; filename="{created.public_id}-receipt.json"'
    )
    body = json.loads(receipt.content)
    assert body["status"] == "verifiable"
    assert verify_receipt(body, vkey=body["verifier_key"])["valid"] is True
    export = admin_client.get(url("request-export", workspace, created.public_id))
    assert export.status_code == 200
    assert "attachment" in export["Content-Disposition"]
    data = json.loads(export.content)
    assert data["id"] == created.public_id
    assert [event["message_id"] for event in data["events"]] == ["m-1"]


def test_a_delete_request_has_no_export(admin_client, admin_user, workspace):
    created = services.dsr_create(
        workspace=workspace,
        actor=admin_user,
        type="delete",
        subject={"user_id": "nobody"},
        enqueue=False,
    )
    services.dsr_run(request_id=created.public_id)

    detail = admin_client.get(url("request", workspace, created.public_id))
    answer = admin_client.get(url("request-export", workspace, created.public_id))

    assert b'data-testid="export-link"' not in detail.content
    assert answer.status_code == 409
    assert answer.json()["error"]["field"] == "id"


# --- Suppressed subjects ----------------------------------------------------------------------


def test_suppressed_list_shows_kinds_and_short_hashes_never_the_identifier(
    admin_client, admin_user, workspace
):
    created = services.dsr_create(
        workspace=workspace,
        actor=admin_user,
        type="suppress",
        subject={"email": EMAIL, "user_id": USER_ID},
        enqueue=False,
    )
    services.dsr_run(request_id=created.public_id)
    Suppression.objects.filter(workspace=workspace, kind="email").update(dropped=7)

    page = admin_client.get(url("suppressed", workspace))

    assert page.status_code == 200
    text = page.content.decode()
    rows = Suppression.objects.filter(workspace=workspace)
    assert rows.count() == 2
    for row in rows:
        assert row.keyed_hash[:12] in text
        assert row.keyed_hash not in text
    assert EMAIL not in text and EMAIL.lower() not in text and USER_ID not in text
    assert 'data-kind="email"' in text and 'data-kind="user_id"' in text
    assert "<td>7</td>" in text
    assert created.requested_by in text
    assert "unsuppress" in text


def test_an_empty_suppression_list_says_so(admin_client, workspace):
    page = admin_client.get(url("suppressed", workspace))

    assert page.status_code == 200
    assert b"No subject is suppressed." in page.content


def test_htmx_posts_answer_the_section_with_the_error_or_the_new_row(admin_client, workspace):
    refused = admin_client.post(
        url("requests", workspace), {"type": "delete", "phone": "12"}, HTTP_HX_REQUEST="true"
    )
    made = admin_client.post(
        url("requests", workspace), {"type": "suppress", "email": EMAIL}, HTTP_HX_REQUEST="true"
    )

    assert refused.status_code == 422
    assert refused.content.lstrip().startswith(b'<div id="privacy-requests">')
    assert b"field-invalid" in refused.content
    assert made.status_code == 200
    assert made.content.lstrip().startswith(b'<div id="privacy-requests">')
    created = DataSubjectRequest.objects.get(workspace=workspace)
    assert f'data-request-id="{created.public_id}"'.encode() in made.content
    assert EMAIL.encode() not in made.content


@pytest.mark.parametrize("request_id", ["a%00b", "%ED%A0%80", "x" * 300])
def test_a_hostile_request_id_is_a_4xx(admin_client, workspace, request_id):
    for name in ("request", "request-receipt", "request-export"):
        path = url(name, workspace, "PLACEHOLDER").replace("PLACEHOLDER", request_id)
        assert admin_client.get(path).status_code in {400, 404}
