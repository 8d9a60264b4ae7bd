"""The controls page and its JSON: who reads it, the framework filter, refusals, links only
where the reader may follow them, isolation, and a query budget that does not grow with the
workspace."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.controls import evidence
from compliance.controls.catalogue import CONTROLS
from monitoring.incidents import services as incident_services
from monitoring.incidents.models import Incident
from privacy.requests import services as dsr_services
from tests.destinations.factories import DestinationFactory
from tests.factories import MembershipFactory
from workspaces.models import ApiKey, Role

pytestmark = pytest.mark.django_db

SOC2 = ["CC6.1", "CC6.6", "CC6.7", "CC7.2", "CC9.1", "A1.2", "C1.2", "PI1.3"]
ISO = ["A.5", "A.8", "A.10", "A.12", "A.17", "A.18"]


def page_url(workspace):
    return reverse("compliance:controls", args=[workspace.slug])


def json_url(workspace):
    return reverse("compliance:controls-json", args=[workspace.slug])


def test_the_catalogue_holds_the_controls_the_issue_names():
    assert [c.id for c in CONTROLS] == SOC2 + ISO
    assert len({c.slug for c in CONTROLS}) == len(CONTROLS)
    for control in CONTROLS:
        assert control.we_do and control.you_do and control.evidence


def test_every_member_reads_every_control_with_a_summary(
    client, controls_page, workspace, viewer_user
):
    client.force_login(viewer_user)
    page = controls_page(client, workspace)

    assert list(page.controls) == SOC2 + ISO
    response = client.get(page_url(workspace))
    summary = {entry["status"]: entry["count"] for entry in response.context["summary"]}
    assert sum(summary.values()) == 14
    assert summary == {
        status: sum(1 for c in page.controls.values() if c["status"] == status)
        for status in ("attention", "met", "na")
    }
    assert 'data-testid="summary-attention"' in page.html
    assert "<caption" in page.html and 'scope="row"' in page.html
    assert "What you still need" in page.html
    # each row says what the customer still needs, beside the evidence
    assert "Rotate API keys at least every 90 days" in page.html


def test_evidence_links_only_where_the_reader_may_follow_them(
    client, controls_page, workspace, admin_user, viewer_user
):
    settings_url = reverse("audit:compliance", args=[workspace.slug])
    requests_url = reverse("privacy:requests", args=[workspace.slug])
    keys_url = reverse("dashboard:api-keys", args=[workspace.slug])
    inventory_url = reverse("inventory:list", args=[workspace.slug])

    client.force_login(viewer_user)
    viewer = controls_page(client, workspace).html
    assert f'href="{keys_url}"' in viewer and f'href="{inventory_url}"' in viewer
    assert f'href="{settings_url}"' not in viewer and f'href="{requests_url}"' not in viewer
    assert 'data-testid="auditor-package-link"' not in viewer  # the package is for admins

    client.force_login(admin_user)
    admin = controls_page(client, workspace).html
    assert f'href="{settings_url}"' in admin and f'href="{requests_url}"' in admin
    package_url = reverse("evidence:package", args=[workspace.slug])
    assert f'href="{package_url}" data-testid="auditor-package-link"' in admin
    reviews_url = reverse("access_reviews:list", args=[workspace.slug])
    for link in (settings_url, requests_url, keys_url, inventory_url, package_url, reviews_url):
        assert client.get(link).status_code == 200


@pytest.mark.parametrize(
    ("framework", "ids"), [("soc2", SOC2), ("iso27001", ISO), ("", SOC2 + ISO)]
)
def test_filter_by_framework(client, controls_page, workspace, admin_user, framework, ids):
    client.force_login(admin_user)
    assert list(controls_page(client, workspace, framework=framework).controls) == ids

    data = client.get(json_url(workspace), {"framework": framework}).json()
    assert [c["id"] for c in data["controls"]] == ids
    assert data["framework"] == (framework or None)


def test_htmx_gets_the_section_only(client, workspace, admin_user):
    client.force_login(admin_user)
    response = client.get(page_url(workspace), {"framework": "iso27001"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<div id="controls">' in body
    assert (
        "<html" not in body and 'data-control="A.5"' in body and 'data-control="CC6.1"' not in body
    )


@pytest.mark.parametrize("framework", ["pci", "soc2'><script>", "x" * 5000, "SOC2"])
def test_an_unknown_framework_is_refused_naming_the_field(client, workspace, admin_user, framework):
    client.force_login(admin_user)
    page = client.get(page_url(workspace), {"framework": framework})
    assert page.status_code == 400
    assert "<script>" not in page.content.decode()
    assert 'role="alert"' in page.content.decode()

    refused = client.get(json_url(workspace), {"framework": framework})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["field"], error["choices"]) == (
        "invalid",
        "framework",
        ["soc2", "iso27001"],
    )


def test_only_get(client, workspace, admin_user):
    client.force_login(admin_user)
    assert client.post(page_url(workspace)).status_code == 405
    assert client.post(json_url(workspace)).status_code == 405


def test_the_json_is_what_the_auditor_package_carries(client, workspace, admin_user, make_api_key):
    make_api_key(workspace, name="Storefront")
    client.force_login(admin_user)
    data = client.get(json_url(workspace)).json()

    assert data["workspace"] == workspace.public_id
    control = next(c for c in data["controls"] if c["id"] == "CC6.1")
    assert set(control) >= {"framework", "title", "status", "reason", "we_do", "you_do"}
    keys = next(e for e in control["evidence"] if e["key"] == "api_keys")
    assert keys["status"] == "met"
    assert {"label": "Live keys", "value": 1} in keys["figures"]
    assert keys["links"][0]["url"] == reverse("dashboard:api-keys", args=[workspace.slug])


def _busy(workspace, admin_user, make_api_key, system_actor, n: int, tag: str) -> None:
    """``n`` of everything the page reads per row: members, old keys, missed incidents,
    overdue deletion requests, destinations without an owner."""
    long_ago = timezone.now() - dt.timedelta(days=200)
    for i in range(n):
        MembershipFactory(workspace=workspace, role=Role.ADMIN, user__name=f"{tag} admin {i}")
        key, _ = make_api_key(workspace, name=f"{tag} key {i}")
        ApiKey.objects.filter(pk=key.pk).update(created_at=long_ago)
        incident = incident_services.incident_open(
            workspace=workspace, actor=admin_user, title=f"{tag} incident {i}", severity="low"
        )
        Incident.objects.filter(pk=incident.pk).update(opened_at=long_ago)
        request = dsr_services.dsr_create(
            workspace=workspace,
            actor=system_actor,
            type="delete",
            subject={"user_id": f"{tag}-{i}"},
            enqueue=False,
        )
        request.__class__.objects.filter(pk=request.pk).update(created_at=long_ago)
        DestinationFactory(workspace=workspace, name=f"{tag} destination {i}")


def test_the_query_budget_does_not_grow_with_the_workspace(
    client,
    workspace,
    other_workspace,
    admin_user,
    other_admin_user,
    make_api_key,
    system_actor,
    django_assert_max_num_queries,
):
    _busy(workspace, admin_user, make_api_key, system_actor, 1, "Small")
    _busy(other_workspace, other_admin_user, make_api_key, system_actor, 12, "Large")
    counts = []
    for owner, ws in ((admin_user, workspace), (other_admin_user, other_workspace)):
        client.force_login(owner)
        client.get(page_url(ws))  # warm the per-process caches
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page_url(ws)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    # 30 reads, and each of the 10 sources in its own savepoint (SAVEPOINT, RELEASE: 20)
    with django_assert_max_num_queries(50):
        client.get(page_url(other_workspace))


def test_another_workspaces_evidence_never_shows(
    client,
    controls_page,
    workspace,
    other_workspace,
    admin_user,
    other_admin_user,
    make_api_key,
    system_actor,
):
    _busy(other_workspace, other_admin_user, make_api_key, system_actor, 2, "Globex")
    client.force_login(admin_user)
    page = controls_page(client, workspace)
    data = client.get(json_url(workspace)).content.decode()
    for text in (page.html, data):
        assert "Globex" not in text and other_workspace.public_id not in text
    assert page.status("CC6.1", "api_keys") == "na"
    assert page.status("CC7.2", "incidents") == "na"
    assert page.status("C1.2", "deletion_requests") == "na"
    assert page.status("CC6.7") == "na"

    # and another workspace's member cannot open this one's page at all
    client.force_login(other_admin_user)
    assert client.get(page_url(workspace)).status_code == 404
    assert client.get(json_url(workspace)).status_code == 404


def test_the_document_the_package_takes_is_plain_json(workspace, make_api_key):
    make_api_key(workspace, name="Storefront")
    document = evidence.controls_document(workspace=workspace)
    assert json.loads(json.dumps(document)) == document
    assert [c["id"] for c in document["controls"]] == SOC2 + ISO
    assert sum(entry["count"] for entry in document["summary"]) == len(CONTROLS)


def test_the_download_follows_the_filter(client, workspace, admin_user):
    client.force_login(admin_user)
    section = client.get(page_url(workspace), {"framework": "soc2"}, HTTP_HX_REQUEST="true")
    assert f'href="{json_url(workspace)}?framework=soc2" download' in section.content.decode()
    everything = client.get(page_url(workspace)).content.decode()
    assert f'href="{json_url(workspace)}" download' in everything
