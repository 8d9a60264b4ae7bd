"""Fixtures of the data-subject request tests: an admin API client, a
subject's events ingested through /v1/batch with deliveries and attempts on them, and the
scan of a region database's text and JSON columns."""

import hashlib
import json

import orjson
import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from destinations.models import Delivery, DeliveryAttempt, Event
from privacy import pii
from privacy.requests.selectors import suppressed_matcher_forget
from tests.destinations.factories import DestinationFactory
from workspaces.models import ApiKeyRole

EMAIL = "Ada.Lovelace@Example.com"
PHONE = "+49 30 1234567"
USER_ID = "user-ada-77"
ANON = "anon-ada-42"
OTHER_EMAIL = "grace@example.org"


@pytest.fixture(autouse=True)
def _fresh_suppressions():
    suppressed_matcher_forget()
    yield
    suppressed_matcher_forget()


class Api:
    def __init__(self, token):
        self.client = Client()
        self.token = token

    def post(self, path, body):
        return self.client.post(
            f"/v1/{path}",
            json.dumps(body),  # ASCII with escapes: a lone surrogate gets through as sent
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
        )

    def get(self, path):
        return self.client.get(f"/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {self.token}")


@pytest.fixture
def api_for(make_api_key):
    def make(workspace, role=ApiKeyRole.ADMIN):
        return Api(make_api_key(workspace, role=role, name=f"{role} key")[1])

    return make


@pytest.fixture
def admin_api(api_for, workspace):
    return api_for(workspace)


def ingest(make_api_key, workspace):
    """Ada's events (by userId with e-mail and phone; by anonymousId only; by e-mail only;
    an alias from her anonymous id) and one of Grace's, through /v1/batch; each event gets a
    delivery (to Meta) and an attempt whose error echoes the e-mail. Returns Grace's event."""
    _, token = make_api_key(workspace, role=ApiKeyRole.WRITE, name="ingest")
    context = {"ip": "203.0.113.7", "userAgent": "AdaBrowser/1.0"}
    batch = [
        {
            "type": "identify",
            "userId": USER_ID,
            "messageId": "m-1",
            "traits": {"email": EMAIL, "phone": PHONE},
            "context": context,
        },
        {"type": "track", "event": "Viewed", "anonymousId": ANON, "messageId": "m-2"},
        {
            "type": "track",
            "event": "Signed Up",
            "anonymousId": "anon-other-device",
            "messageId": "m-3",
            "context": {"traits": {"email": EMAIL.upper()}},
        },
        {"type": "alias", "userId": "new-id-9", "previousId": ANON, "messageId": "m-4"},
        {
            "type": "track",
            "event": "Viewed",
            "userId": "grace-1",
            "messageId": "g-1",
            "context": {"traits": {"email": OTHER_EMAIL}, "ip": "198.51.100.1"},
        },
    ]
    answer = Client().post(
        "/v1/batch",
        orjson.dumps({"batch": batch}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["accepted"] == 5
    # A Meta destination: a delete's forwarding answers "not_supported" at once, so these
    # tests see a request's working data go when it completes (forwarding has its own tests,
    # tests/destinations/subject_requests/).
    destination = DestinationFactory(workspace=workspace, type="meta_capi")
    now = timezone.now()
    for event in Event.objects.for_workspace(workspace):
        delivery = Delivery.objects.for_workspace(workspace).create(
            workspace=workspace,
            destination=destination,
            event=event,
            status="dead",
            attempts=1,
            next_attempt_at=now,
            last_error=echo(event),
            created_at=now,
        )
        DeliveryAttempt.objects.in_region(workspace.region).create(
            delivery=delivery,
            destination=destination,
            started_at=now,
            latency_ms=3,
            status_code=400,
            outcome="failed",
            error=echo(event),
        )
    return Event.objects.for_workspace(workspace).get(message_id="g-1")


def echo(event) -> str:
    # A platform's answer that echoes the identifier (only Ada's do).
    return "400 unknown user" + ("" if event.message_id.startswith("g-") else f" {EMAIL}")


def ada_values() -> list[str]:
    """Every form of Ada's identifiers a store could hold: raw, normalised, hashed."""
    values = {USER_ID, ANON, EMAIL, EMAIL.lower(), PHONE, "+49301234567"}
    values.add(hashlib.sha256(ANON.encode()).hexdigest())
    values.add(pii.hashed("external_id", USER_ID))
    values.add(pii.hashed("external_id", ANON))
    for field, value in (("em", EMAIL), ("ph", PHONE)):
        values.update(pii.hashed_for_specs(field, value).values())
    return sorted(values)


def scan(alias: str, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text, JSON or binary column of every table of the
    database ``alias`` that holds one of ``needles`` anywhere in its value."""
    found = []
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'jsonb', 'json', 'bytea', 'inet')"
        )
        columns = cursor.fetchall()
        for table, column, data_type in columns:
            expression = (
                f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            )
            for needle in needles:
                cursor.execute(
                    f'SELECT 1 FROM "{table}" WHERE position(lower(%s) in lower({expression})) > 0 '  # noqa: S608 - names from the catalogue
                    "LIMIT 1",
                    [needle],
                )
                if cursor.fetchone():
                    found.append((table, column, needle))
    return found
