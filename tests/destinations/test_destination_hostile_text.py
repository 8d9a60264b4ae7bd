"""A destination's free-form settings — config values, mapping keys and targets, filter names —
holding a NUL or a lone surrogate are a named 400, never a 500 (found in review of issue 11:
``PATCH /v1/destinations/{id} {"config": {"url": "https://…/a\\u0000"}}`` and an event mapping
key with NUL reached PostgreSQL, which refused the row)."""

import json

import pytest

from destinations.models import Destination
from tests.destinations.factories import DestinationFactory
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db

BAD_TEXT = ["a\u0000b", "a\ud800b"]


@pytest.fixture
def send(client, workspace, make_api_key):
    token = make_api_key(workspace, role=ApiKeyRole.ADMIN, name="Admin")[1]

    def request(method, path, body):
        return getattr(client, method)(
            f"/v1/{path}",
            json.dumps(body),  # escapes a lone surrogate as \ud800, as a browser would
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return request


@pytest.fixture
def webhook(workspace):
    return DestinationFactory(workspace=workspace, type="webhook")


def field_error(response) -> tuple[str, str]:
    """The error's code and the one field it names (``field``, or ``fields`` for ``invalid``,
    the serializer's refusal: it already refuses NUL and surrogates in the items it types)."""
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    [field] = [error["field"]] if "field" in error else list(error["fields"])
    return error["code"], field


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda t: {"config": {"url": f"https://hooks.example.com/{t}"}}, "url"),
        (lambda t: {"event_mapping": {t: "Purchase"}}, "event_mapping"),
        (lambda t: {"property_mapping": {t: "properties.total"}}, "property_mapping"),
        (lambda t: {"event_filter": [t]}, "event_filter"),
    ],
)
def test_an_update_with_text_postgresql_cannot_store_is_a_named_400(
    send, webhook, text, body, field
):
    before = Destination.objects.values().get(pk=webhook.pk)

    response = send("patch", f"destinations/{webhook.public_id}", body(text))

    code, named = field_error(response)
    assert (code, named) in {("invalid_destination", field), ("invalid", field)}
    assert Destination.objects.values().get(pk=webhook.pk) == before


@pytest.mark.parametrize("text", BAD_TEXT)
def test_a_destination_created_with_such_a_url_is_a_named_400(send, text):
    response = send(
        "post",
        "destinations",
        {
            "type": "webhook",
            "name": "Warehouse",
            "config": {"url": f"https://hooks.example.com/{text}"},
            "secrets": {"signing_secret": "s" * 32},
        },
    )

    assert field_error(response) == ("invalid_destination", "url")
    assert not Destination.objects.exists()
