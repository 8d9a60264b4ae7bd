"""Every answer under /v1/ is JSON in production mode (DEBUG off), in the one documented shape
``{"error": {"code", "message", …}}`` — also when no view answered (404 for an unknown path,
500 for an exception no one handled); the dashboard keeps its HTML pages."""

from unittest import mock

import pytest

from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_an_unhandled_exception_under_v1_is_a_json_500_without_internals(call, settings):
    settings.DEBUG = False
    secret_detail = "row (42, 'ada@example.com') violates something"
    with mock.patch(
        "workspaces.api.selectors.member_list", side_effect=RuntimeError(secret_detail)
    ):
        response = call("get", "members")

    error = _error(response, 500, "server_error")
    assert "ada@example.com" not in response.content.decode()
    assert set(error) == {"code", "message"}


def test_an_unknown_api_path_is_a_json_404(call, settings):
    settings.DEBUG = False

    _error(call("get", "no-such-thing"), 404, "not_found")
    _error(call("get", "no-such-thing", role=None), 404, "not_found")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_json_whatever_the_method_and_debug(call, settings, debug):
    settings.DEBUG = debug  # with DEBUG on, Django would list every route in HTML

    _error(call("post", "no/such/thing", data={"a": 1}), 404, "not_found")
    _error(call("get", "whoami/extra"), 404, "not_found")


def test_an_unsupported_method_is_a_json_405_naming_the_allowed_ones(call):
    response = call("delete", "whoami")

    _error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_outside_v1_a_missing_page_is_still_the_dashboards_html(client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_invalid_field_is_named_in_the_error(call, workspace):
    error = _error(call("get", "deliveries?limit=0"), 400, "invalid")

    assert error["fields"]["limit"][0]["code"] == "min_value"


def test_a_query_integer_given_empty_is_refused_not_ignored(call):
    error = _error(call("get", "deliveries?limit="), 400, "invalid")

    assert error["fields"]["limit"][0]["code"] == "invalid"


def test_a_string_field_refuses_a_number_instead_of_turning_it_into_text(call, workspace):
    from tests.destinations.factories import DestinationFactory

    destination = DestinationFactory(workspace=workspace)

    response = call("post", f"destinations/{destination.public_id}/pause", data={"reason": 0})

    error = _error(response, 400, "invalid")
    assert error["fields"]["reason"][0]["code"] == "invalid"


def test_an_integer_field_refuses_a_string(call, workspace):
    response = call("post", "deliveries/replay", data={"deliveries": ["1"]})

    error = _error(response, 400, "invalid")
    assert "deliveries" in error["fields"]


def test_a_replay_of_nothing_is_refused_with_a_reason(call):
    _error(call("post", "deliveries/replay", data={"deliveries": []}), 400, "invalid")
    _error(call("post", "deliveries/replay", data={}), 400, "invalid")


# --- Ingestion --------------------------------------------------------------------------------


def test_an_empty_batch_is_refused_naming_the_field_and_why(call):
    response = call("post", "batch", role=ApiKeyRole.WRITE, data={"batch": []})

    error = _error(response, 400, "empty_batch")
    assert error["field"] == "batch"


@pytest.mark.parametrize("path", ["events", "batch"])
def test_an_empty_native_or_segment_batch_is_refused_the_same_way(call, path):
    response = call("post", path, role=ApiKeyRole.WRITE, data={"batch": []})

    assert _error(response, 400, "empty_batch")["field"] == "batch"


EVENT = {"type": "track", "event": "Signed Up", "userId": "u-1"}


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (ApiKeyRole.WRITE, 200),
        (ApiKeyRole.ADMIN, 200),
        (ApiKeyRole.EDITOR, 403),
        (ApiKeyRole.VIEWER, 403),
        (ApiKeyRole.AUDIT, 403),
    ],
)
def test_which_key_roles_send_events_is_what_the_readme_says(call, role, status):
    """README, API table: write or admin keys send events; editor keys configure routing and
    operations but do not send (workspaces/policy.py)."""
    response = call("post", "events", role=role, data=EVENT)

    assert response.status_code == status
    if status == 403:
        _error(response, 403, "permission_denied")


@pytest.mark.parametrize(
    "query",
    ["audit/proof/inclusion?index=0&index=0", "deliveries?limit=5&limit=6", "deliveries?limit=1.0"],
)
def test_a_query_parameter_is_one_integer_not_a_list_or_a_float(call, query):
    """Django takes the last of repeated parameters and DRF reads ``1.0`` as 1; the schema
    says one integer, so both are refused (found by schemathesis)."""
    response = call("get", query, role=ApiKeyRole.AUDIT if "audit" in query else ApiKeyRole.ADMIN)

    _error(response, 400, "invalid")


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("destinations/{id}", {"name": " \t\u3000"}, "name"),
        ("audit/events", {"event_type": "order.refunded\n", "resource_id": "r-1"}, "event_type"),
        ("audit/events", {"event_type": "order.refunded", "resource_id": "\u00a0"}, "resource_id"),
    ],
)
def test_text_is_refused_as_the_schema_refuses_it(call, workspace, path, data, field):
    """Blank means whitespace as the schema's patterns read it (ECMA-262), and text is taken
    as sent, never trimmed to fit (found by schemathesis: "\\u000b" passed the schema's
    minLength, then DRF trimmed it to nothing)."""
    from tests.destinations.factories import DestinationFactory

    destination = DestinationFactory(workspace=workspace)
    method = "patch" if path.startswith("destinations") else "post"
    role = ApiKeyRole.ADMIN
    response = call(method, path.format(id=destination.public_id), role=role, data=data)

    error = _error(response, 400, "invalid")
    assert field in error["fields"]
