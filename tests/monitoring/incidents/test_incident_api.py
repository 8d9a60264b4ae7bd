"""GET /v1/incidents (filters, paging), /v1/incidents/{id} and its export: the workspace is
the key's; another workspace's id is a 404 like an unknown one."""

import pytest

from monitoring.incidents import services
from monitoring.incidents.selectors import EXPORT_FORMAT
from tests.audit_entries import audit_rows
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(api_client, workspace, make_api_key):
    _key, token = make_api_key(workspace, role=ApiKeyRole.VIEWER)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client


def open_auto(workspace, source_id, severity="high", subject=""):
    return services.incident_open_auto(
        workspace=workspace,
        source_kind="anomaly",
        source_id=source_id,
        title=f"Anomaly {source_id}",
        severity=severity,
        subject=subject,
    )


def test_list_open_first_then_severity_with_filters_and_paging(
    reader, workspace, admin_user, incident
):
    low = open_auto(workspace, "ano_low", severity="low")
    critical = open_auto(workspace, "ano_crit", severity="critical")
    services.incident_phase_set(
        workspace=workspace, actor=admin_user, incident=critical, phase="contain"
    )

    body = reader.get("/v1/incidents").json()
    assert [row["id"] for row in body["data"]] == [
        critical.public_id,
        incident.public_id,
        low.public_id,
    ]
    assert body["next_offset"] is None
    first = body["data"][0]
    assert first["phase"] == "contain" and first["status"] == "open"
    assert first["containment_target"]["status"] == "met"
    assert first["source"] == {"kind": "anomaly", "ids": ["ano_crit"]}

    page = reader.get("/v1/incidents", {"limit": 2}).json()
    assert len(page["data"]) == 2 and page["next_offset"] == 2
    rest = reader.get("/v1/incidents", {"limit": 2, "offset": 2}).json()
    assert [row["id"] for row in rest["data"]] == [low.public_id]

    by_phase = reader.get("/v1/incidents", {"phase": "contain"}).json()["data"]
    assert [row["id"] for row in by_phase] == [critical.public_id]
    by_severity = reader.get("/v1/incidents", {"severity": "low"}).json()["data"]
    assert [row["id"] for row in by_severity] == [low.public_id]
    assert reader.get("/v1/incidents", {"status": "closed"}).json()["data"] == []
    blank = reader.get("/v1/incidents", {"status": "", "phase": "", "severity": ""}).json()
    assert len(blank["data"]) == 3  # a blank filter is "any", as the schema allows it


def test_list_reads_the_time_in_phase_without_a_query_per_incident(
    reader, workspace, admin_user, django_assert_max_num_queries
):
    for n in range(3):
        services.incident_phase_set(
            workspace=workspace,
            actor=admin_user,
            incident=open_auto(workspace, f"ano_{n}"),
            phase="contain",
        )
    reader.get("/v1/incidents")  # the key's first use (its last-used time) out of the count

    with django_assert_max_num_queries(8) as queries:
        body = reader.get("/v1/incidents").json()
    more = [open_auto(workspace, f"ano_more_{n}") for n in range(5)]
    with django_assert_max_num_queries(len(queries.captured_queries)):
        bigger = reader.get("/v1/incidents").json()

    assert len(body["data"]) == 3 and len(bigger["data"]) == 3 + len(more)
    assert all(row["time_in_phase"]["contain"] >= 0 for row in body["data"])
    assert all(row["time_in_phase"]["detect"] >= 0 for row in body["data"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "pending"}, "status"),
        ({"phase": "done"}, "phase"),
        ({"severity": "urgent"}, "severity"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_bad_filters_are_400_naming_the_field(reader, query, field):
    response = reader.get("/v1/incidents", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_detail_has_the_postmortem_and_timeline(reader, workspace, admin_user, incident):
    services.incident_note_add(
        workspace=workspace, actor=admin_user, incident=incident, note="Looking."
    )
    body = reader.get(f"/v1/incidents/{incident.public_id}").json()
    assert body["id"] == incident.public_id
    assert body["postmortem"] == {
        "impact": "",
        "timeline_summary": "",
        "contributing_factors": "",
        "corrective_actions": "",
    }
    assert [event["kind"] for event in body["timeline"]] == ["opened", "note"]
    assert body["timeline"][1]["note"] == "Looking."
    assert set(body["time_in_phase"]) == {"detect", "contain", "eradicate", "review"}


def test_another_workspaces_incident_is_404(api_client, other_workspace, make_api_key, incident):
    _key, token = make_api_key(other_workspace, role=ApiKeyRole.ADMIN)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for url in (
        f"/v1/incidents/{incident.public_id}",
        f"/v1/incidents/{incident.public_id}/export",
    ):
        response = api_client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert api_client.get("/v1/incidents").json()["data"] == []


def test_write_keys_and_no_key_are_refused(api_client, workspace, make_api_key, incident):
    assert api_client.get("/v1/incidents").status_code == 401
    _key, token = make_api_key(workspace, role=ApiKeyRole.WRITE)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.get("/v1/incidents")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_export_names_the_audit_entries_by_index_and_hash(
    reader, workspace, admin_user, incident, destination
):
    services.incident_destination_pause(
        workspace=workspace,
        actor=admin_user,
        incident=incident,
        destination_id=destination.public_id,
    )
    body = reader.get(f"/v1/incidents/{incident.public_id}/export").json()

    assert body["format"] == EXPORT_FORMAT
    assert body["workspace_id"] == workspace.public_id
    assert body["incident"]["id"] == incident.public_id
    assert [event["kind"] for event in body["timeline"]] == ["opened", "containment_action"]
    entries = {row.idx: row for row in audit_rows(workspace)}
    own = body["audit"]["entries"]
    assert [entry["event_type"] for entry in own] == [
        "incident.opened",
        "incident.containment_action",
    ]
    for entry in own + body["audit"]["containment_entries"]:
        assert entries[entry["idx"]].hash_hex == entry["hash"]
        assert entries[entry["idx"]].public_id == entry["event_id"]
    [paused] = body["audit"]["containment_entries"]
    assert (paused["event_type"], paused["resource_id"]) == (
        "destination.paused",
        destination.public_id,
    )
    assert paused["idx"] == own[1]["idx"] - 1  # the same transaction, just before
    assert body["audit"]["tree_size"] == len(entries)
    assert body["audit"]["pending"] == []


def test_export_keeps_a_resume_those_after_the_close(
    reader, workspace, admin_user, incident, destination
):
    act = {"workspace": workspace, "actor": admin_user}
    services.incident_egress_pause(**act, incident=incident)
    for phase in ("contain", "eradicate", "review"):
        services.incident_phase_set(**act, incident=incident, phase=phase)
    services.incident_postmortem_save(
        **act,
        incident=incident,
        impact="i",
        timeline_summary="t",
        contributing_factors="c",
        corrective_actions="a",
    )
    services.incident_close(**act, incident=incident)
    services.incident_egress_resume(**act, incident=incident)

    body = reader.get(f"/v1/incidents/{incident.public_id}/export").json()

    assert [event["kind"] for event in body["timeline"]][-1] == "containment_undone"
    assert [
        (entry["event_type"], entry["resource_id"])
        for entry in body["audit"]["containment_entries"]
    ] == [
        ("destination.paused", destination.public_id),
        ("destination.resumed", destination.public_id),
    ]
