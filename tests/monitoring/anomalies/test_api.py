"""GET /v1/anomalies and /v1/anomalies/{id}: any key that can read the workspace; filters and
paging; bad parameters a 400 naming them; another workspace's id a 404."""

from datetime import timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator

from monitoring.anomalies.models import Anomaly
from tests.monitoring.anomalies.conftest import NOW
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


def make(workspace, n=0, **fields):
    values = {
        "kind": "volume_drop",
        "subject": f"source:key_{n}",
        "severity": "medium",
        "summary": f"Events of source key_{n} dropped.",
        "evidence": {"observed": n, "baseline": {"method": "same_time_of_day", "median": 300}},
        "started_at": NOW - timedelta(minutes=n),
        "last_seen_at": NOW,
        **fields,
    }
    return Anomaly.objects.create(workspace=workspace, **values)


@pytest.fixture
def client_for(api_client, make_api_key):
    def client(workspace, role=ApiKeyRole.VIEWER):
        _, token = make_api_key(workspace, role=role)
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api_client

    return client


def test_list_newest_first_with_paging(workspace, client_for):
    rows = [make(workspace, n) for n in range(5)]
    client = client_for(workspace)

    first = client.get("/v1/anomalies", {"limit": 2}).json()
    assert [a["id"] for a in first["data"]] == [rows[0].public_id, rows[1].public_id]
    assert first["next_before"] == rows[1].public_id
    second = client.get("/v1/anomalies", {"limit": 2, "before": first["next_before"]}).json()
    assert [a["id"] for a in second["data"]] == [rows[2].public_id, rows[3].public_id]
    last = client.get("/v1/anomalies", {"limit": 2, "before": second["next_before"]}).json()
    assert [a["id"] for a in last["data"]] == [rows[4].public_id]
    assert last["next_before"] is None
    assert first["data"][0]["evidence"]["baseline"]["median"] == 300


def test_filters_by_status_kind_and_since(workspace, client_for):
    drop = make(workspace, 1)
    make(workspace, 2, kind="volume_spike", status="resolved", resolved_at=NOW)
    make(workspace, 90, kind="volume_spike")
    client = client_for(workspace)

    def ids(**query):
        return [a["id"] for a in client.get("/v1/anomalies", query).json()["data"]]

    assert ids(status="open", kind="volume_drop") == [drop.public_id]
    assert len(ids(kind="volume_spike")) == 2
    since = (NOW - timedelta(minutes=10)).isoformat()
    assert len(ids(since=since)) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "nope"}, "status"),
        ({"kind": "volume"}, "kind"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1.0"}, "limit"),
        ({"before": "anm_unknown"}, "before"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(workspace, client_for, query, field):
    response = client_for(workspace).get("/v1/anomalies", query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error.get("fields", {}) or error.get("field") == field


def test_detail_and_another_workspaces_id_is_a_404(workspace, other_workspace, client_for):
    ours = make(workspace, 1)
    theirs = make(other_workspace, 1)
    client = client_for(workspace)

    body = client.get(f"/v1/anomalies/{ours.public_id}").json()
    assert (body["id"], body["kind"], body["status"]) == (ours.public_id, "volume_drop", "open")
    response = client.get(f"/v1/anomalies/{theirs.public_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/v1/anomalies", {"before": theirs.public_id}).status_code == 400
    assert theirs.public_id not in str(client.get("/v1/anomalies").json())


@pytest.mark.parametrize("role", [ApiKeyRole.WRITE, ApiKeyRole.AUDIT])
def test_keys_that_cannot_read_the_workspace_are_refused(workspace, client_for, role):
    make(workspace, 1)
    response = client_for(workspace, role).get("/v1/anomalies")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_no_key_is_a_401(workspace, api_client):
    assert api_client.get("/v1/anomalies").status_code == 401


def test_the_schema_documents_both_operations_with_the_error_envelope():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["paths"]["/v1/anomalies"]["get"]
    detail = schema["paths"]["/v1/anomalies/{anomaly_id}"]["get"]
    assert {"200", "400", "401", "403"} <= set(listing["responses"])
    assert {"200", "404"} <= set(detail["responses"])
    error = detail["responses"]["404"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/Error"
    names = {p["name"] for p in listing["parameters"]}
    assert {"status", "kind", "since", "limit", "before"} <= names


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"before": "anm_\x00"}, "before"),
        ({"before": "x" * 5000}, "before"),
        ({"kind": "volume_drop\x00"}, "kind"),
        ({"since": "99999-01-01T00:00:00Z"}, "since"),
        ({"since": "2026-11-23T14:00:00\x00"}, "since"),
        ({"limit": "9" * 400}, "limit"),
    ],
)
def test_hostile_parameters_are_a_400_naming_them(workspace, client_for, query, field):
    response = client_for(workspace).get("/v1/anomalies", query)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error.get("fields", {}) or error.get("field") == field


@pytest.mark.parametrize("anomaly_id", ["anm_%00", "%00", "x" * 3000, "anm_%F0%9F%92%A9"])
def test_a_hostile_id_is_a_404(workspace, client_for, anomaly_id):
    response = client_for(workspace).get(f"/v1/anomalies/{anomaly_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
