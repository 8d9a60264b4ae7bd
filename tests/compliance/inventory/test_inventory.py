"""The destination inventory end to end: the owner and purpose set on the destination form
(audited), the rows ``inventory_rows`` derives from the destinations, the consent settings and
the audit log, the page, and the CSV and JSON downloads — one workspace's, never another's."""

import csv
import io
import json

import pytest
from django.urls import reverse

from compliance.inventory import export, selectors
from destinations.exceptions import DestinationInvalidError
from destinations.routing import services
from privacy import services as privacy_services
from tests.audit_entries import last_entry
from tests.destinations.factories import DestinationFactory
from tests.factories import MembershipFactory
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def _edit(destination, **changes) -> dict:
    data = {
        "name": destination.name,
        **dict(destination.config),
        "event_filter": "\n".join(destination.event_filter),
        "event_mapping": "\n".join(f"{k} = {v}" for k, v in destination.event_mapping.items()),
        "property_mapping": "",
        "consent_overrides": "",
        "autopause_error_percent": "50",
        "autopause_min_attempts": "20",
        "autopause_window_minutes": "5",
        "max_concurrency": "4",
    }
    data.update(changes)
    return data


def _update_url(workspace, destination) -> str:
    return reverse("destinations:destination-update", args=[workspace.slug, destination.public_id])


def _row(workspace, destination) -> dict:
    rows = selectors.inventory_rows(workspace=workspace)
    return next(row for row in rows if row["destination_id"] == destination.public_id)


def test_the_owner_and_purpose_set_on_the_form_are_audited_and_in_the_inventory(
    client, workspace, admin_user, editor_user
):
    # Given a Meta destination created by the admin
    destination = DestinationFactory(workspace=workspace, type="meta_capi", name="Meta ads")
    client.force_login(editor_user)

    # When an editor names themself owner and gives a purpose on the destination's form
    response = client.post(
        _update_url(workspace, destination),
        _edit(
            destination,
            owner=editor_user.public_id,
            purpose="Measure and optimise our Meta campaigns",
            event_filter="Order Completed\n$page",
        ),
    )

    # Then it is saved, audited by public id (no name, no e-mail) …
    assert response.status_code == 302
    changes = last_entry(workspace)["payload"]["changes"]
    assert changes["owner"] == {"before": None, "after": editor_user.public_id}
    assert changes["purpose"] == {"before": "", "after": "Measure and optimise our Meta campaigns"}
    assert editor_user.email not in json.dumps(last_entry(workspace))
    # … and the inventory row says who, why, what and on what basis
    row = _row(workspace, destination)
    assert row["owner_name"] == "Eddie Editor"
    assert row["owner_email"] == editor_user.email
    assert row["owner_is_member"] is True
    assert row["purpose"] == "Measure and optimise our Meta campaigns"
    assert row["event_types_sent"] == ["Order Completed", "$page"]
    assert row["platform"] == "meta_capi"
    assert row["status"] == "active"
    assert row["region"] == workspace.region
    assert row["consent_sensitive"] is True
    assert "TCF purpose 1" in row["consent_requirements"]
    identifiers = {item["name"]: item["hashed"] for item in row["identifiers"]}
    assert identifiers["em"] is True and identifiers["external_id"] is True
    assert identifiers["fbp"] is False and identifiers["client_ip_address"] is False
    # … and the page shows it
    page = client.get(reverse("inventory:list", args=[workspace.slug]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Eddie Editor" in body and "Measure and optimise our Meta campaigns" in body


def test_an_owner_must_be_a_member_of_the_workspace(
    client, workspace, admin_user, other_admin_user
):
    destination = DestinationFactory(workspace=workspace, type="webhook", name="Hook")
    client.force_login(admin_user)

    # The form offers members only: another workspace's admin is refused on the field
    response = client.post(
        _update_url(workspace, destination), _edit(destination, owner=other_admin_user.public_id)
    )
    assert response.status_code == 422
    assert response.context["form"].errors["owner"]
    destination.refresh_from_db()
    assert destination.owner_id is None

    # The service refuses too (the API and any other caller), naming the field
    with pytest.raises(DestinationInvalidError) as refused:
        services.destination_update(
            workspace=workspace,
            actor=admin_user,
            destination=destination,
            values={"owner": other_admin_user.public_id},
        )
    assert refused.value.field == "owner"
    with pytest.raises(DestinationInvalidError) as too_long:
        services.destination_update(
            workspace=workspace,
            actor=admin_user,
            destination=destination,
            values={"purpose": "x" * 501},
        )
    assert too_long.value.field == "purpose"


def test_an_owner_who_leaves_stays_marked_until_someone_else_is_named(
    client, workspace, admin_user
):
    member = MembershipFactory(workspace=workspace, role=Role.VIEWER, user__name="Leaver")
    destination = DestinationFactory(
        workspace=workspace, type="webhook", name="Hook", owner=member.user.public_id
    )
    member.delete()

    row = _row(workspace, destination)
    assert row["owner_name"] == "Leaver" and row["owner_is_member"] is False
    # Saving another setting keeps the owner (the form lists them as no longer a member)
    client.force_login(admin_user)
    response = client.post(
        _update_url(workspace, destination),
        _edit(destination, name="Hook 2", owner=destination.owner.public_id),
    )
    assert response.status_code == 302


def test_the_unfiltered_webhook_sends_everything_and_needs_consent_only_when_told(
    workspace, admin_user
):
    hook = DestinationFactory(workspace=workspace, type="webhook", name="Hook")
    row = _row(workspace, hook)
    assert row["event_types_sent"] == "all"
    assert row["consent_sensitive"] is False and row["consent_requirements"] == []
    assert row["owner_name"] is None

    # A per-destination override makes it consent-sensitive …
    services.destination_update(
        workspace=workspace,
        actor=admin_user,
        destination=hook,
        values={"consent_policy": {"categories": ["analytics"]}},
    )
    assert _row(workspace, hook)["consent_requirements"] == ["category analytics"]
    # … and so does the workspace's policy for the type (Settings → Consent)
    other = DestinationFactory(workspace=workspace, type="webhook", name="Other hook")
    privacy_services.consent_settings_update(
        workspace=workspace, actor=admin_user, policies={"webhook": {"tcf_purposes": [1]}}
    )
    assert _row(workspace, other)["consent_requirements"] == ["TCF purpose 1"]


def test_created_and_last_changed_by_come_from_the_audit_log_in_bounded_queries(
    workspace, admin_user, editor_user, django_assert_max_num_queries
):
    first = DestinationFactory(workspace=workspace, type="webhook", name="A hook")
    # created by the factory's system actor; changed by the editor, then paused by the admin
    services.destination_update(
        workspace=workspace, actor=editor_user, destination=first, values={"name": "A hook 2"}
    )
    services.destination_pause(workspace=workspace, actor=admin_user, destination=first)
    made = services.destination_create(
        workspace=workspace,
        actor=admin_user,
        type="webhook",
        name="B hook",
        config={"url": "https://hooks.example.test/b"},
        secrets={"signing_secret": "whsec_" + "b" * 32},
    )

    rows = {row["destination_id"]: row for row in selectors.inventory_rows(workspace=workspace)}
    assert rows[first.public_id]["created_by"] == "system:tests"
    assert rows[first.public_id]["last_changed_by"] == admin_user.display_name
    assert rows[first.public_id]["last_change"] == "destination.paused"
    assert rows[first.public_id]["status"] == "paused"
    assert rows[made.public_id]["created_by"] == admin_user.display_name
    assert rows[made.public_id]["last_change"] == "destination.created"

    # The number of queries does not grow with the destinations
    for n in range(5):
        DestinationFactory(workspace=workspace, type="webhook", name=f"More {n}")
    with django_assert_max_num_queries(5):
        assert len(selectors.inventory_rows(workspace=workspace)) == 7


def test_deleted_destinations_and_other_workspaces_are_not_in_it(
    workspace, other_workspace, admin_user
):
    kept = DestinationFactory(workspace=workspace, type="webhook", name="Kept")
    gone = DestinationFactory(workspace=workspace, type="webhook", name="Gone")
    DestinationFactory(workspace=other_workspace, type="webhook", name="Theirs")
    services.destination_delete(workspace=workspace, actor=admin_user, destination=gone)

    ids = [row["destination_id"] for row in selectors.inventory_rows(workspace=workspace)]
    assert ids == [kept.public_id]


def test_the_csv_and_json_downloads_parse_and_defuse_formulas(client, workspace, viewer_user):
    DestinationFactory(workspace=workspace, type="meta_capi", name='=HYPERLINK("x")')
    DestinationFactory(workspace=workspace, type="ga4_mp", name="GA4")
    client.force_login(viewer_user)  # whoever sees the destinations

    as_csv = client.get(reverse("inventory:csv", args=[workspace.slug]))
    as_json = client.get(reverse("inventory:json", args=[workspace.slug]))

    assert as_csv.status_code == as_json.status_code == 200
    assert "attachment" in as_csv["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert [line["name"] for line in lines] == ['\'=HYPERLINK("x")', "GA4"]
    assert lines[1]["event_types_sent"] == "all"
    assert "user_id (SHA-256)" in lines[1]["identifiers"]
    assert "client_id (not hashed)" in lines[1]["identifiers"]
    document = json.loads(as_json.content)
    assert document["format"] == "tracklayer.destination-inventory.v1"
    assert document["workspace_id"] == workspace.public_id
    assert [row["name"] for row in document["destinations"]] == ['=HYPERLINK("x")', "GA4"]
    # the same bytes as the export functions (the auditor package hashes those)
    assert export.inventory_csv(workspace=workspace) == as_csv.content


def test_another_workspaces_member_gets_404(client, workspace, other_admin_user):
    DestinationFactory(workspace=workspace, type="webhook", name="Secret hook")
    client.force_login(other_admin_user)
    for name in ("inventory:list", "inventory:csv", "inventory:json"):
        response = client.get(reverse(name, args=[workspace.slug]))
        assert response.status_code == 404
        assert b"Secret hook" not in response.content


def test_a_new_destination_offers_its_creator_as_owner(client, workspace, editor_user):
    client.force_login(editor_user)
    url = reverse("destinations:destination-create", args=[workspace.slug])

    form = client.get(url, {"type": "webhook"}).context["form"]
    assert form["owner"].value() == editor_user.public_id

    response = client.post(
        url,
        {
            "type": "webhook",
            "name": "Warehouse",
            "url": "https://hooks.example.test/warehouse",
            "signing_secret": "whsec_" + "w" * 32,
            "owner": editor_user.public_id,
            "purpose": "Our own warehouse",
            "autopause_error_percent": "50",
            "autopause_min_attempts": "20",
            "autopause_window_minutes": "5",
            "max_concurrency": "4",
        },
    )
    assert response.status_code == 302
    row = selectors.inventory_rows(workspace=workspace)[0]
    assert (row["owner_name"], row["purpose"]) == ("Eddie Editor", "Our own warehouse")
    assert last_entry(workspace)["payload"]["owner"] == editor_user.public_id
