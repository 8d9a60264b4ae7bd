"""The controls page follows each evidence source: change the record through its own service,
and the control's evidence (and, where it is the only evidence, the control) flips."""

import datetime as dt

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from audit import services as audit_services
from audit.models import AuditExportConfig
from compliance.access_reviews import services as review_services
from compliance.access_reviews.models import Campaign
from compliance.controls import evidence
from destinations.models import IngestionSettings
from destinations.retention.purge import retention_purge
from destinations.routing import services as routing_services
from destinations.tracking_plans import services as tracking_plan_services
from monitoring.incidents import services as incident_services
from monitoring.incidents.models import Incident
from privacy.models import DataSubjectRequest
from privacy.requests import services as dsr_services
from tests.audit.tampering import as_owner_without_triggers
from tests.audit_entries import audit_rows
from tests.destinations.factories import DestinationFactory
from tests.factories import FACTORY_ACTOR, MembershipFactory
from tests.workspaces.helpers import activate_totp
from tests.workspaces.sso.conftest import DOMAIN
from workspaces import services as workspace_services
from workspaces.identity import services as identity_services
from workspaces.models import ApiKey, ApiKeyRole, Role
from workspaces.sso import services as sso_services

pytestmark = pytest.mark.django_db

ACCESS_CONTROLS = ("CC6.1", "A.5")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _age(model, pk, **fields) -> None:
    """Move a record's times into the past (what time would do)."""
    model.objects.filter(pk=pk).update(**fields)


def test_an_old_api_key_needs_attention_and_rotating_it_is_met(
    admin_client, controls_page, workspace, admin_user, make_api_key
):
    key, _token = make_api_key(workspace, name="Old storefront")
    young = controls_page(admin_client, workspace)
    assert {young.status(c, "api_keys") for c in (*ACCESS_CONTROLS, "CC6.6")} == {"met"}

    _age(ApiKey, key.pk, created_at=timezone.now() - dt.timedelta(days=120))
    old = controls_page(admin_client, workspace)

    for control in (*ACCESS_CONTROLS, "CC6.6"):
        assert old.status(control, "api_keys") == "attention"
        assert old.status(control) == "attention"
        assert "Old storefront (120 days)" in old.controls[control]["reason"]
    assert old.evidence("CC6.1", "api_keys")["items"][0]["label"].startswith("Old storefront")

    workspace_services.api_key_rotate(
        workspace=workspace, actor=admin_user, key=key, grace=dt.timedelta(0)
    )
    rotated = controls_page(admin_client, workspace)
    assert {rotated.status(c, "api_keys") for c in (*ACCESS_CONTROLS, "CC6.6")} == {"met"}
    # the old key stopped at once (no grace); its successor is the one live key
    assert rotated.evidence("A.5", "api_keys")["reason"] == "1 live key, all younger than 90 days."


def test_no_live_key_is_not_applicable(admin_client, controls_page, workspace):
    page = controls_page(admin_client, workspace)
    assert page.status("CC6.1", "api_keys") == "na"


def test_an_admin_without_mfa_needs_attention_until_mfa_is_set_up_and_required(
    client, controls_page, workspace, admin_user
):
    client.force_login(admin_user)
    page = controls_page(client, workspace)
    for control in ACCESS_CONTROLS:
        assert page.status(control, "mfa_sso") == "attention"
    assert "Admins without an authenticator app: Ada Admin." in page.controls["CC6.1"]["reason"]

    activate_totp(client, admin_user)
    page = controls_page(client, workspace)
    assert page.status("CC6.1", "mfa_sso") == "attention"  # MFA is still optional
    assert "MFA is not required" in page.evidence("CC6.1", "mfa_sso")["reason"]

    identity_services.mfa_policy_set(workspace=workspace, actor=admin_user, required=True)
    page = controls_page(client, workspace)
    assert page.status("CC6.1", "mfa_sso") == "met"
    assert {"label": "Members with MFA", "value": "1 of 1"} in page.evidence("CC6.1", "mfa_sso")[
        "figures"
    ]


def test_a_broken_audit_log_needs_attention(
    admin_client, controls_page, workspace, admin_user, system_actor
):
    never = controls_page(admin_client, workspace)
    assert never.status("A.10") == "attention"
    assert "never been verified" in never.controls["A.10"]["reason"]

    audit_services.audit_checkpoint_sign(workspace=workspace, actor=system_actor)
    audit_services.audit_verify_record(workspace=workspace, actor=system_actor)
    verified = controls_page(admin_client, workspace)
    assert verified.status("A.10") == "met"
    assert verified.status("CC7.2", "audit_integrity") == "met"

    target = audit_rows(workspace)[0]
    forged = bytes(target.material).replace(b"Acme", b"Acne")
    as_owner_without_triggers(
        ("UPDATE audit_auditentry SET material = %s WHERE id = %s", [forged, target.pk])
    )
    audit_services.audit_verify_record(workspace=workspace, actor=system_actor)
    broken = controls_page(admin_client, workspace)
    for control in ("A.10", "A.12", "CC7.2", "A1.2"):
        assert broken.status(control, "audit_integrity") == "attention"
    assert "break(s) in the log" in broken.controls["A.10"]["reason"]


def test_deletion_requests_overdue_then_completed_with_a_receipt(
    admin_client, controls_page, workspace, system_actor
):
    assert controls_page(admin_client, workspace).status("C1.2", "deletion_requests") == "na"

    request = dsr_services.dsr_create(
        workspace=workspace,
        actor=system_actor,
        type="delete",
        subject={"user_id": "someone"},
        enqueue=False,
    )
    _age(DataSubjectRequest, request.pk, created_at=timezone.now() - dt.timedelta(days=31))
    overdue = controls_page(admin_client, workspace)
    for control in ("C1.2", "A.18"):
        assert overdue.status(control, "deletion_requests") == "attention"
    assert "1 deletion request(s) open for more than 30 days." in overdue.controls["C1.2"]["reason"]
    assert overdue.evidence("C1.2", "deletion_requests")["items"][0]["label"] == request.public_id

    dsr_services.dsr_run(request_id=request.public_id)
    done = controls_page(admin_client, workspace)
    evidence = done.evidence("C1.2", "deletion_requests")
    assert evidence["status"] == "met"
    assert evidence["items"][0]["url"].endswith(f"/{request.public_id}/receipt/")
    assert f'href="{evidence["items"][0]["url"]}"' in done.html  # an admin may follow it


def test_an_incident_that_missed_containment_needs_attention(
    admin_client, controls_page, workspace, admin_user
):
    assert controls_page(admin_client, workspace).status("CC7.2", "incidents") == "na"

    quick = incident_services.incident_open(
        workspace=workspace, actor=admin_user, title="Quickly contained", severity="low"
    )
    incident_services.incident_phase_set(
        workspace=workspace, actor=admin_user, incident=quick, phase="contain"
    )
    assert controls_page(admin_client, workspace).status("CC9.1", "incidents") == "met"

    slow = incident_services.incident_open(
        workspace=workspace, actor=admin_user, title="Orders lost", severity="high"
    )
    _age(Incident, slow.pk, opened_at=timezone.now() - dt.timedelta(hours=2))
    page = controls_page(admin_client, workspace)
    for control in ("CC7.2", "CC9.1", "A.12", "A.17"):
        assert page.status(control, "incidents") == "attention"
    assert f"Orders lost ({slow.public_id})" in page.controls["CC9.1"]["reason"]
    assert {"label": "Missed the 1 h target", "value": 1} in page.evidence("CC9.1", "incidents")[
        "figures"
    ]


def test_no_tracking_plan_needs_attention_and_a_plan_is_met(
    admin_client, controls_page, workspace, admin_user
):
    page = controls_page(admin_client, workspace)
    assert page.status("PI1.3") == "attention"
    assert "No tracking plan" in page.controls["PI1.3"]["reason"]

    tracking_plan_services.tracking_plan_update(
        workspace=workspace,
        actor=admin_user,
        mode="block",
        unplanned="allow",
        schemas={"Order Completed": {"type": "object"}},
    )
    page = controls_page(admin_client, workspace)
    assert page.status("PI1.3") == "met"
    assert "block mode with 1 event schema(s)" in page.controls["PI1.3"]["reason"]


def test_retention_windows_and_the_last_purge(admin_client, controls_page, workspace, system_actor):
    page = controls_page(admin_client, workspace)
    assert page.status("C1.2", "retention") == "attention"
    assert "No purge has run yet." in page.evidence("C1.2", "retention")["reason"]

    retention_purge(workspace=workspace, actor=system_actor)
    page = controls_page(admin_client, workspace)
    evidence = page.evidence("A.8", "retention")
    assert evidence["status"] == "met"
    assert {"label": "IP and user agent (days)", "value": 30} in evidence["figures"]

    # three days without a purge (it runs hourly) is late
    IngestionSettings.objects.filter(workspace=workspace).update(
        last_purge_at=timezone.now() - dt.timedelta(days=3)
    )
    assert controls_page(admin_client, workspace).status("C1.2", "retention") == "attention"


@pytest.mark.parametrize(
    ("config", "status", "reason"),
    [
        ({}, "attention", "The scheduled audit export is off"),
        ({"enabled": True}, "attention", "has not run yet"),
        ({"enabled": True, "last_error": "bucket gone"}, "attention", "The last export failed"),
        ({"enabled": True, "exported": dt.timedelta(days=9)}, "attention", "9 days ago"),
        ({"enabled": True, "exported": dt.timedelta(hours=1)}, "met", "Exported"),
    ],
)
def test_offline_copies_of_the_audit_log(
    admin_client, controls_page, workspace, config, status, reason
):
    exported = config.pop("exported", None)
    if config:
        AuditExportConfig.objects.create(
            workspace=workspace,
            target="directory",
            last_export_at=timezone.now() - exported if exported else None,
            last_export_key="tracklayer-audit/acme.json.gz" if exported else "",
            **config,
        )
    page = controls_page(admin_client, workspace)
    for control in ("A1.2", "CC9.1", "A.17"):
        assert page.status(control, "audit_export") == status
    assert reason in page.evidence("A1.2", "audit_export")["reason"]
    assert "bucket gone" not in page.html  # the error stays on the admins' settings page


def test_the_last_access_review_and_an_overdue_one(
    admin_client, controls_page, workspace, admin_user
):
    page = controls_page(admin_client, workspace)
    assert page.status("CC6.1", "access_review") == "attention"
    assert "No access review has been completed" in page.controls["A.5"]["reason"]

    campaign = review_services.access_review_open(workspace=workspace, actor=admin_user)
    for item in campaign.items.all():
        review_services.access_review_decide(
            workspace=workspace,
            actor=admin_user,
            campaign=campaign,
            item_id=item.public_id,
            decision="confirm",
        )
    review_services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)
    page = controls_page(admin_client, workspace)
    evidence = page.evidence("A.5", "access_review")
    assert evidence["status"] == "met"
    assert "by Ada Admin" in evidence["reason"]
    assert evidence["links"][0]["url"] in page.html

    following = review_services.access_review_open(workspace=workspace, actor=admin_user)
    _age(Campaign, following.pk, due_at=timezone.now() - dt.timedelta(days=3))
    page = controls_page(admin_client, workspace)
    assert page.status("CC6.1", "access_review") == "attention"
    assert "The next access review was due on" in page.evidence("CC6.1", "access_review")["reason"]


def test_a_destination_without_an_owner_or_purpose_needs_attention(
    admin_client, controls_page, workspace, admin_user
):
    assert controls_page(admin_client, workspace).status("CC6.7") == "na"

    destination = DestinationFactory(workspace=workspace, name="Meta CAPI", type="meta_capi")
    page = controls_page(admin_client, workspace)
    assert page.status("CC6.7") == "attention"
    assert page.status("A.8", "inventory") == "attention"
    assert "without an owner or a purpose: Meta CAPI." in page.controls["CC6.7"]["reason"]

    routing_services.destination_update(
        workspace=workspace,
        actor=admin_user,
        destination=destination,
        values={"owner": admin_user.public_id, "purpose": "Conversion measurement"},
    )
    page = controls_page(admin_client, workspace)
    assert page.status("CC6.7") == "met"
    assert "1 destination, each with an owner and a purpose." in page.controls["CC6.7"]["reason"]


def test_under_sso_enforcement_only_admins_with_a_password_path_need_mfa(
    admin_client, controls_page, sso_workspace
):
    """Admins of a managed domain sign in only through the IdP once SSO is enforced; an admin
    outside the managed domains still signs in with a password, and needs MFA."""
    MembershipFactory(
        workspace=sso_workspace, role=Role.ADMIN, user__email=f"sam@{DOMAIN}", user__name="Sam"
    )
    MembershipFactory(
        workspace=sso_workspace, role=Role.ADMIN, user__email="olga@outside.test", user__name="Olga"
    )
    sso_services.managed_domains_set(
        workspace=sso_workspace, actor=FACTORY_ACTOR, domains=[DOMAIN], enforce=True
    )
    evidence = controls_page(admin_client, sso_workspace).evidence("CC6.1", "mfa_sso")
    assert evidence["status"] == "attention"
    assert {item["label"] for item in evidence["items"]} == {"Ada Admin", "Olga"}
    assert {"label": "SSO", "value": "enforced"} in evidence["figures"]


def test_schema_validation_and_dedup_figures_come_from_ingestion(
    admin_client, controls_page, workspace, admin_user, make_api_key
):
    """Events sent through the API: the plan refuses an unplanned one, a repeat is a
    duplicate — and PI1.3's evidence counts both, the rejection by its reason."""
    tracking_plan_services.tracking_plan_update(
        workspace=workspace,
        actor=admin_user,
        mode="block",
        unplanned="block",
        schemas={"Order Completed": {"type": "object"}},
    )
    _key, token = make_api_key(workspace, role=ApiKeyRole.WRITE)

    def track(message_id, name):
        return {"type": "track", "event": name, "anonymousId": "a-1", "messageId": message_id}

    batch = [
        track("m-1", "Order Completed"),
        track("m-2", "Unplanned"),
        track("m-1", "Order Completed"),
    ]
    answer = Client().post(
        "/v1/batch",
        orjson.dumps({"batch": batch}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 200, answer.content

    evidence = controls_page(admin_client, workspace).evidence("PI1.3", "input_validation")
    figures = {figure["label"]: figure["value"] for figure in evidence["figures"]}
    assert figures["Received (30 days)"] == 3
    assert figures["Accepted (30 days)"] == 1
    assert figures["Rejected (30 days)"] == 1
    assert figures["Duplicates acknowledged (30 days)"] == 1
    assert evidence["items"] == [
        {"label": "tracking_plan:unplanned", "detail": "1 rejected", "url": None}
    ]
    assert "1 event(s) rejected and 1 duplicate(s) acknowledged" in evidence["reason"]


def test_incidents_are_counted_in_the_database_and_only_the_named_ones_loaded(
    workspace, monkeypatch
):
    """Many incidents (an anomaly detector opens them on its own): the figures count every
    one of the 12 months, the median is the middle containment time, and no more incidents
    are loaded than the evidence names."""
    now = timezone.now()
    hour = dt.timedelta(hours=1)

    def incident(n: int, opened_ago: dt.timedelta, took: dt.timedelta | None) -> Incident:
        opened = now - opened_ago
        return Incident(
            workspace=workspace,
            title=f"Anomaly {n}",
            severity="low",
            opened_by="system:anomalies",
            source_kind="anomaly",
            opened_at=opened,
            contained_at=None if took is None else opened + took,
        )

    rows = [incident(n, 3 * hour, dt.timedelta(minutes=10 + n)) for n in range(30)]  # met
    rows += [incident(100 + n, 5 * hour, 2 * hour) for n in range(12)]  # missed, contained
    rows += [incident(200 + n, 3 * hour, None) for n in range(3)]  # missed, still open
    rows += [incident(300, dt.timedelta(minutes=5), None)]  # still within its hour
    rows += [incident(400, dt.timedelta(days=400), None)]  # older than the window
    Incident.objects.bulk_create(rows)
    loaded = []
    original = Incident.from_db.__func__

    def counting(cls, db, names, values):
        loaded.append(values)
        return original(cls, db, names, values)

    monkeypatch.setattr(Incident, "from_db", classmethod(counting))

    result = evidence.incidents(workspace, now)

    figures = {f["label"]: f["value"] for f in result["figures"]}
    assert figures["Incidents (12 months)"] == 46
    assert figures["Contained within 1 h"] == 30
    assert figures["Missed the 1 h target"] == 15
    took = sorted([10 + n for n in range(30)] + [120] * 12)  # minutes, contained ones
    assert figures["Median time to contain (min)"] == round((took[20] + took[21]) / 2)
    assert result["status"] == "attention"
    assert len(result["items"]) == evidence.ITEMS_SHOWN
    assert "and 5 more" in result["reason"]
    assert len(loaded) <= evidence.ITEMS_SHOWN


def test_entries_verified_says_how_many_are_newer_than_the_verification(
    admin_client, controls_page, workspace, admin_user, system_actor
):
    audit_services.audit_checkpoint_sign(workspace=workspace, actor=system_actor)
    verified = audit_services.audit_verify_record(workspace=workspace, actor=system_actor)
    count = verified["total_events"]
    # its own audit.verified record, then two renames: 3 newer
    for name in ("Acme Two", "Acme Three"):
        workspace_services.workspace_update(workspace=workspace, actor=admin_user, name=name)

    page = controls_page(admin_client, workspace)

    evidence_ = page.evidence("A.10", "audit_integrity")
    figures = {f["label"]: f["value"] for f in evidence_["figures"]}
    assert figures["Entries verified"] == f"{count} verified · 3 newer"
    assert f"{count} verified · 3 newer" in page.html
    assert evidence_["status"] == "met"
    assert "3 appended since" in evidence_["reason"]
