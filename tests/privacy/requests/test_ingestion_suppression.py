"""Suppression at ingestion (needs destinations/ingestion/services.py to ask
``privacy.requests.selectors.suppressed_matcher``): a suppressed subject's events are
acknowledged as accepted and dropped before storage and delivery, and counted; after
``unsuppress`` they are stored again."""

import orjson
import pytest
from django.test import Client

from destinations.models import Event
from privacy.models import Suppression
from privacy.requests import services
from tests.privacy.requests.conftest import ANON, EMAIL
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


def send(token, *events):
    answer = Client().post(
        "/v1/batch",
        orjson.dumps({"batch": list(events)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def track(message_id, **extra):
    return {"type": "track", "event": "Viewed", "messageId": message_id, **extra}


def request(admin_api, kind, subject):
    answer = admin_api.post("data_subject_requests", {"type": kind, "subject": subject})
    assert answer.status_code == 202, answer.content
    services.dsr_run(request_id=answer.json()["id"])


def test_suppressed_events_are_acknowledged_dropped_and_counted(admin_api, workspace, make_api_key):
    _, token = make_api_key(workspace, role=ApiKeyRole.WRITE, name="ingest")
    request(admin_api, "suppress", {"email": EMAIL, "anonymous_id": ANON})

    answer = send(
        token,
        track("s-1", anonymousId=ANON),
        track("s-2", anonymousId="x", context={"traits": {"email": EMAIL.upper()}}),
        track("s-3", anonymousId="someone-else"),
    )

    assert answer["accepted"] == 3
    assert answer["rejected"] == []
    stored = list(Event.objects.for_workspace(workspace).values_list("message_id", flat=True))
    assert stored == ["s-3"]
    dropped = dict(Suppression.objects.filter(workspace=workspace).values_list("kind", "dropped"))
    assert dropped == {"anonymous_id": 1, "email": 1}

    request(admin_api, "unsuppress", {"anonymous_id": ANON})
    send(token, track("s-4", anonymousId=ANON))
    assert Event.objects.for_workspace(workspace).filter(message_id="s-4").exists()
