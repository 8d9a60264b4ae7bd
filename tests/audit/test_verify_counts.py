"""What a verification covered: "39 verified · 4 newer" on the dashboard, the API and the CLI;
the API's ``merchant_id``, ``first_event`` and ``last_event``; the CLI's ``--merchant``."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit import selectors, services
from audit.management.commands.audit import Command
from tests.audit.helpers import ACTOR, append_things, record_thing
from tests.audit_entries import audit_count, audit_rows
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


def test_the_panel_says_how_many_were_verified_and_how_many_are_newer(
    client, workspace, admin_user
):
    # Given a verification, then four entries appended after it
    client.force_login(admin_user)
    verified = services.audit_verify_record(workspace=workspace, actor=ACTOR)["total_events"]
    append_things(workspace, 3)  # + the run's own audit.verified record = 4 newer

    page = client.get(reverse("audit:log", kwargs={"slug": workspace.slug})).content.decode()

    assert f'<span data-testid="verify-coverage">{verified} verified · 4 newer</span>' in page
    assert "its own <code>audit.verified</code> record among them" in page


def test_verify_now_covers_everything_but_its_own_record(client, workspace, admin_user):
    append_things(workspace, 2)
    before = audit_count(workspace)
    client.force_login(admin_user)

    panel = client.post(
        reverse("audit:verify", kwargs={"slug": workspace.slug}), HTTP_HX_REQUEST="true"
    ).content.decode()

    assert f"{before} verified · 1 newer" in panel


def test_the_api_answers_merchant_id_counts_and_the_first_and_last_entries(
    api_client, workspace, make_api_key
):
    _key, token = make_api_key(workspace, role=ApiKeyRole.VIEWER)
    append_things(workspace, 2)

    body = api_client.get("/v1/audit/verify", HTTP_AUTHORIZATION=f"Bearer {token}").json()

    rows = audit_rows(workspace)
    assert body["merchant_id"] == body["workspace_id"] == workspace.public_id
    assert body["verified_events"] == body["total_events"] == len(rows)
    assert body["current_events"] == len(rows) and body["newer_events"] == 0
    first, last = rows[0], rows[-1]
    assert body["first_event"] == {
        "idx": 0,
        "event_id": first.public_id,
        "event_type": "workspace.created",
        "timestamp": first.timestamp.isoformat(),
        "hash": first.hash_hex,
    }
    assert body["last_event"]["idx"] == last.idx and body["last_event"]["hash"] == last.hash_hex


def test_the_schema_documents_merchant_id_and_the_counts(api_client):
    schema = api_client.get("/v1/schema", {"format": "json"}).json()
    output = schema["components"]["schemas"]["AuditVerifyOutput"]["properties"]
    assert {"merchant_id", "verified_events", "current_events", "newer_events"} <= set(output)
    entry = schema["components"]["schemas"]["AuditVerifyEntry"]["properties"]
    assert set(entry) == {"idx", "event_id", "event_type", "timestamp", "hash"}
    verify = schema["paths"]["/v1/audit/verify"]["get"]["responses"]["200"]
    assert verify["content"]["application/json"]["schema"]["$ref"].endswith("/AuditVerifyOutput")


def run_cli(*args) -> str:
    out = StringIO()
    call_command("audit", *args, stdout=out)
    return out.getvalue()


def test_merchant_is_another_name_for_workspace(workspace):
    as_merchant = json.loads(run_cli("verify", "--merchant", workspace.slug, "--json"))
    assert as_merchant["merchant_id"] == workspace.public_id
    assert as_merchant["chain_status"] == "valid"

    printed = run_cli("verify", "--workspace", workspace.slug)
    assert f"{as_merchant['total_events'] + 1} verified · 1 newer" in printed

    verbs = Command().create_parser("tracklayer", "audit")._subparsers._group_actions[0]
    assert "--workspace SLUG, --merchant SLUG" in verbs.choices["verify"].format_help()


def test_the_last_event_is_the_last_one_verified_not_one_appended_while_it_ran(
    workspace, monkeypatch
):
    append_things(workspace, 2)
    verified_rows = audit_rows(workspace)
    real = selectors.verify_log

    def then_one_more(*args, **kwargs):
        report = real(*args, **kwargs)
        record_thing(workspace, 99)  # committed by another writer while the check ran
        return report

    monkeypatch.setattr(selectors, "verify_log", then_one_more)

    result = selectors.audit_verify(workspace=workspace)

    assert result["chain_status"] == "valid"
    assert (result["verified_events"], result["newer_events"]) == (len(verified_rows), 1)
    last = verified_rows[-1]
    assert result["last_event"]["idx"] == last.idx == result["verified_events"] - 1
    assert result["last_event"]["hash"] == last.hash_hex


def test_merchant_takes_the_merchant_id_the_api_answers(workspace):
    as_id = json.loads(run_cli("verify", "--merchant", workspace.public_id, "--json"))
    assert as_id["merchant_id"] == workspace.public_id
    with pytest.raises(CommandError, match="No workspace with slug or id 'ws_nosuch'"):
        run_cli("verify", "--merchant", "ws_nosuch")
