"""The Anomalies page: list with filters, an anomaly's evidence with its sparkline against the
baseline band, acknowledge and resolve for editors (refused to viewers), the alert settings
for admins (the webhook secret shown once, stored sealed); htmx gets the section only."""

import re

import pytest

from audit.models import AuditEntry
from monitoring.anomalies import services
from monitoring.anomalies.models import AlertSettings, Anomaly
from monitoring.incidents.services import incident_open_auto
from tests.audit_entries import audit_entries
from tests.monitoring.anomalies.conftest import NOW

pytestmark = pytest.mark.django_db

SERIES = [[300 - 10 * i, 300, 240, 360] for i in range(30)]


@pytest.fixture
def anomaly(workspace):
    return Anomaly.objects.create(
        workspace=workspace,
        kind="volume_drop",
        subject="source:key_web",
        severity="high",
        summary="Events of source key_web stopped: 0 in 5 min against 1500 usually.",
        evidence={"observed": 0, "baseline": {"method": "same_time_of_day"}, "series": SERIES},
        started_at=NOW,
        last_seen_at=NOW,
    )


def page(workspace, *parts):
    return "/".join([f"/w/{workspace.slug}/anomalies", *parts, ""]).replace("//", "/")


def test_the_list_shows_open_anomalies_and_filters(client, workspace, viewer_user, anomaly):
    Anomaly.objects.create(
        workspace=workspace,
        kind="volume_spike",
        subject="event:Product Viewed",
        severity="low",
        status="resolved",
        summary="A spike of Product Viewed.",
        started_at=NOW,
        last_seen_at=NOW,
        resolved_at=NOW,
    )
    client.force_login(viewer_user)

    html = client.get(page(workspace)).content.decode()
    assert anomaly.summary in html
    assert "A spike of Product Viewed." not in html  # resolved: not in the default view
    assert "Alerts" not in html  # the settings are for admins

    resolved = client.get(page(workspace), {"status": "resolved"}, HTTP_HX_REQUEST="true")
    body = resolved.content.decode()
    assert "A spike of Product Viewed." in body and anomaly.summary not in body
    assert "<html" not in body  # the section only
    assert client.get(page(workspace), {"kind": "nonsense"}).status_code == 200


def test_the_detail_draws_the_sparkline_against_the_band(client, workspace, viewer_user, anomaly):
    client.force_login(viewer_user)
    html = client.get(page(workspace, anomaly.public_id)).content.decode()
    assert 'data-testid="anomaly-sparkline"' in html
    assert "<polygon points=" in html and "<polyline points=" in html
    assert "same_time_of_day" in html
    assert 'data-testid="resolve"' not in html  # viewers see no buttons


def test_editors_acknowledge_and_resolve_viewers_are_refused(
    client, workspace, editor_user, viewer_user, anomaly
):
    client.force_login(viewer_user)
    assert client.post(page(workspace, anomaly.public_id, "resolve")).status_code == 403

    client.force_login(editor_user)
    html = client.get(page(workspace, anomaly.public_id)).content.decode()
    assert 'data-testid="acknowledge"' in html
    response = client.post(page(workspace, anomaly.public_id, "acknowledge"))
    assert response.status_code == 302
    response = client.post(page(workspace, anomaly.public_id, "resolve"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-status="resolved"' in response.content.decode()
    again = client.post(page(workspace, anomaly.public_id, "resolve"), HTTP_HX_REQUEST="true")
    assert again.status_code == 409
    types = [e["event_type"] for e in audit_entries(workspace)]
    assert [t for t in types if t.startswith("anomaly.")] == [
        "anomaly.acknowledged",
        "anomaly.resolved",
    ]


def test_another_workspaces_anomaly_is_a_404(client, other_workspace, other_admin_user, anomaly):
    client.force_login(other_admin_user)
    url = f"/w/{other_workspace.slug}/anomalies/{anomaly.public_id}/"
    assert client.get(url).status_code == 404
    assert client.post(url + "resolve/").status_code == 404
    assert Anomaly.objects.get(pk=anomaly.pk).status == "open"


def test_admins_set_alerts_and_see_the_webhook_secret_once(
    client, workspace, admin_user, editor_user
):
    client.force_login(admin_user)
    assert "Alerts" in client.get(page(workspace)).content.decode()
    assert not AlertSettings.objects.filter(workspace=workspace).exists()  # reading writes nothing
    data = {
        "email_members": [str(editor_user.pk)],
        "webhook_url": "https://alerts.example.com/tracklayer",
        "quiet_minutes": "30",
        "min_severity": "medium",
    }
    response = client.post(page(workspace, "alerts"), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="alert-secret"' in html
    row = AlertSettings.objects.get(workspace=workspace)
    secret = services.alert_secret(row)
    assert secret.startswith("whsec_") and secret in html
    assert secret not in row.webhook_secret_encrypted
    assert list(row.email_members.all()) == [editor_user]
    # Saved again, no new secret is shown; the old one stays.
    again = client.post(page(workspace, "alerts"), data, HTTP_HX_REQUEST="true").content.decode()
    assert secret not in again and 'data-testid="alert-secret"' not in again
    assert services.alert_secret(AlertSettings.objects.get(workspace=workspace)) == secret
    [entry, _] = audit_entries(workspace, "anomaly.alert_settings_updated")
    assert entry["payload"]["webhook_secret_rotated"] is True
    assert "alerts.example.com" not in str(entry["payload"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"webhook_url": "http://10.0.0.5/hook"}, "webhook_url"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"quiet_minutes": "-1"}, "quiet_minutes"),
        ({"quiet_minutes": "99999"}, "quiet_minutes"),
        ({"min_severity": "urgent"}, "min_severity"),
        ({"email_members": ["999999"]}, "email_members"),
    ],
)
def test_hostile_alert_settings_are_refused_on_their_field(
    client, workspace, admin_user, other_admin_user, change, field, settings
):
    settings.EGRESS_ALLOW_LOOPBACK = False
    client.force_login(admin_user)
    data = {"webhook_url": "", "quiet_minutes": "30", "min_severity": "low", **change}
    response = client.post(page(workspace, "alerts"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert not AlertSettings.objects.filter(workspace=workspace, webhook_url__gt="").exists()
    html = response.content.decode()
    [invalid] = re.findall(r'class="field field-invalid">(.*?)</div>', html, re.S)
    assert f'name="{field}"' in invalid
    assert not AuditEntry.objects.filter(event_type="anomaly.alert_settings_updated").exists()


def test_alert_settings_are_admins_only(client, workspace, editor_user):
    client.force_login(editor_user)
    assert client.get(page(workspace, "alerts")).status_code == 403
    assert client.post(page(workspace, "alerts"), {"quiet_minutes": "5"}).status_code == 403


def test_the_detail_names_the_incident_it_opened(client, workspace, viewer_user, anomaly):
    incident = incident_open_auto(
        workspace=workspace,
        source_kind="anomaly",
        source_id=anomaly.public_id,
        title="Events of key_web stopped",
        severity="high",
        subject=anomaly.subject,
    )
    client.force_login(viewer_user)
    html = client.get(page(workspace, anomaly.public_id)).content.decode()
    assert f"/w/{workspace.slug}/incidents/{incident.public_id}/" in html


@pytest.mark.parametrize("anomaly_id", ["anm_%00", "%00", "x" * 3000])
def test_a_hostile_id_is_a_404_on_every_page(client, workspace, editor_user, anomaly_id):
    client.force_login(editor_user)
    assert client.get(page(workspace, anomaly_id)).status_code == 404
    assert client.post(page(workspace, anomaly_id, "acknowledge")).status_code == 404
    assert client.post(page(workspace, anomaly_id, "resolve")).status_code == 404


def test_hostile_list_filters_fall_back_to_the_default(client, workspace, viewer_user, anomaly):
    client.force_login(viewer_user)
    for query in ({"kind": "x" * 5000}, {"status": ["open", "all"]}, {"status": "nope"}):
        response = client.get(page(workspace), query)
        assert response.status_code == 200
        assert anomaly.public_id in response.content.decode()
    # A NUL byte in a query is refused before the view (the project's guard), never a 5xx.
    assert client.get(page(workspace), {"status": "open\x00"}).status_code == 400
