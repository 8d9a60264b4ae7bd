"""The adapters' halves of forwarding, checked against the local stand-ins (written from the
platforms' pages, not from the adapters): the webhook notice is signed as event batches are;
GA4's JWT assertion and user-deletion body are what Google documents; a GA4 destination's
deletion settings are validated and refused naming the field."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from destinations.adapters import ga4, webhook
from destinations.exceptions import DestinationInvalidError
from destinations.local_platforms import ga4 as ga4_stand_in
from destinations.models import Destination
from destinations.routing import services as routing
from tests.destinations.factories import SECRETS
from tests.destinations.helpers import local, post_raw
from tests.destinations.subject_requests.conftest import PROPERTY_ID, ga4_config, service_account

SUBJECT = {"email_sha256": ["a" * 64, "b" * 64], "user_id_sha256": "c" * 64}


def notice(platforms, *, secrets=None, now=None):
    return webhook.notice_request(
        config=local("webhook", platforms),
        secrets=secrets or SECRETS["webhook"],
        request_id="dsr_abc",
        request_type="delete",
        workspace="ws_1",
        subjects=[SUBJECT],
        now=now or datetime.now(UTC),
    )


def test_the_notice_is_signed_like_a_batch_and_accepted_once(platforms):
    request = notice(platforms)
    body = json.loads(request.body)
    assert body["type"] == "data_subject_request"
    assert body["id"] == request.headers["Idempotency-Key"]
    assert webhook.verify_signature(
        SECRETS["webhook"]["signing_secret"],
        request.headers["X-TrackLayer-Signature"],
        request.body,
    )
    assert post_raw(request)[0] == 200
    again = notice(platforms)  # the same request's notice, sent again later
    assert again.headers["Idempotency-Key"] == request.headers["Idempotency-Key"]
    status, answer, _, _ = post_raw(again)
    assert (status, json.loads(answer)["duplicate"]) == (200, True)
    assert len([item for item in platforms.received("webhook") if item["_kind"] == "notice"]) == 1


def test_the_receiver_refuses_a_wrong_signature_and_a_clear_value(platforms):
    wrong = notice(platforms, secrets={"signing_secret": "not-the-receivers"})
    assert post_raw(wrong)[0] == 401
    stale = notice(platforms, now=datetime.now(UTC) - timedelta(minutes=10))
    assert post_raw(stale)[0] == 401
    clear = json.loads(notice(platforms).body)
    clear["subjects"] = [{"email_sha256": ["ada@example.com"]}]
    forged = webhook.notice_request(
        config=local("webhook", platforms),
        secrets=SECRETS["webhook"],
        request_id="dsr_abc",
        request_type="delete",
        workspace="ws_1",
        subjects=clear["subjects"],
        now=datetime.now(UTC),
    )
    assert post_raw(forged)[0] == 400


def test_a_notice_outcome_never_quotes_the_answer():
    assert webhook.notice_outcome(204, "") == (True, "the receiver answered HTTP 204")
    accepted, detail = webhook.notice_outcome(500, "HTTP 500")
    assert (accepted, detail) == (False, "the receiver answered HTTP 500")
    assert webhook.notice_outcome(301, "")[1].startswith("HTTP 301: redirects")
    assert webhook.notice_outcome(None, "connect: refused") == (False, "connect: refused")


# --- GA4 -----------------------------------------------------------------------------------


def test_the_jwt_assertion_is_what_googles_token_endpoint_takes(platforms):
    _, secrets = ga4_config(platforms)
    now = datetime.now(UTC)
    assertion = ga4.jwt_assertion(secrets["service_account_key"], now)
    assert ga4_stand_in.assertion_problem(assertion, time.time()) is None
    header, claims, _ = assertion.split(".")
    claims = json.loads(ga4_stand_in._unb64(claims))
    assert claims["scope"] == "https://www.googleapis.com/auth/analytics.user.deletion"
    assert claims["aud"] == "https://oauth2.googleapis.com/token"
    assert claims["exp"] - claims["iat"] == 3600
    # A tampered claim set no longer matches its signature.
    tampered = json.dumps({**claims, "scope": "https://www.googleapis.com/auth/cloud-platform"})
    forged = ".".join([header, ga4._b64url(tampered.encode()), assertion.split(".")[2]])
    assert ga4_stand_in.assertion_problem(forged, time.time()) == "invalid JWT signature"
    # Too old.
    old = ga4.jwt_assertion(secrets["service_account_key"], now - timedelta(hours=2))
    assert ga4_stand_in.assertion_problem(old, time.time()) == "the assertion is not valid now"


def test_token_then_upsert_against_the_stand_in(platforms):
    config, secrets = ga4_config(platforms)
    token_request = ga4.token_request(config=config, secrets=secrets, now=datetime.now(UTC))
    assert token_request.url == f"{platforms.url}/ga4/token"
    status, body, _, error = post_raw(token_request)
    token, why = ga4.token_from_answer(status, body, error)
    assert token and why == ""
    upsert = ga4.deletion_request(
        config=config, token=token, id_type="CLIENT_ID", user_id="1234.5678"
    )
    assert json.loads(upsert.body) == {
        "kind": "analytics#userDeletionRequest",
        "id": {"type": "CLIENT_ID", "userId": "1234.5678"},
        "propertyId": PROPERTY_ID,
    }
    status, _, _, error = post_raw(upsert)
    assert ga4.deletion_outcome(status, error) == (True, "")
    unauthorised = ga4.deletion_request(
        config=config, token="ya29.forged", id_type="USER_ID", user_id="u"
    )
    status, _, _, error = post_raw(unauthorised)
    assert ga4.deletion_outcome(status, error) == (
        False,
        "the User Deletion API answered HTTP 401",
    )


def test_production_urls_are_googles():
    config = {"measurement_id": "G-ABC123XYZ9", "property_id": PROPERTY_ID}
    key_file, _ = service_account()
    secrets = {"service_account_key": json.dumps(key_file)}
    now = datetime.now(UTC)
    assert ga4.token_request(config=config, secrets=secrets, now=now).url == (
        "https://oauth2.googleapis.com/token"
    )
    assert ga4.deletion_request(config=config, token="t", id_type="USER_ID", user_id="u").url == (
        "https://www.googleapis.com/analytics/v3/userDeletion/userDeletionRequests:upsert"
    )


def test_a_refused_token_says_why_without_the_assertion():
    body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT"}).encode()
    assert ga4.token_from_answer(400, body, "") == (
        None,
        "the token endpoint answered HTTP 400 (invalid_grant)",
    )


@pytest.mark.parametrize(
    ("config", "secrets", "field"),
    [
        ({"property_id": "G-123"}, "key", "property_id"),
        ({"property_id": PROPERTY_ID}, None, "service_account_key"),
        ({"property_id": PROPERTY_ID}, "not json", "service_account_key"),
        ({"property_id": PROPERTY_ID}, '{"type": "authorized_user"}', "service_account_key"),
        (
            {"property_id": PROPERTY_ID},
            '{"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com",'
            ' "private_key": "-----BEGIN PRIVATE KEY-----\\nnope\\n-----END PRIVATE KEY-----"}',
            "service_account_key",
        ),
    ],
)
def test_a_property_id_needs_a_key_and_a_key_must_be_a_service_accounts(
    workspace, admin_user, config, secrets, field
):
    key_file, _ = service_account()
    key = json.dumps(key_file) if secrets == "key" else secrets
    with pytest.raises(DestinationInvalidError) as caught:
        routing.destination_create(
            workspace=workspace,
            actor=admin_user,
            type="ga4_mp",
            name="GA4",
            config={"measurement_id": "G-ABC123XYZ9", **config},
            secrets={**SECRETS["ga4_mp"], **({"service_account_key": key} if key else {})},
        )
    assert caught.value.field == field
    assert "PRIVATE KEY" not in str(caught.value.errors)


def test_a_configured_ga4_destination_is_saved_with_its_key_sealed(workspace, admin_user):
    key_file, _ = service_account()
    destination = routing.destination_create(
        workspace=workspace,
        actor=admin_user,
        type="ga4_mp",
        name="GA4",
        config={"measurement_id": "G-ABC123XYZ9", "property_id": PROPERTY_ID},
        secrets={**SECRETS["ga4_mp"], "service_account_key": json.dumps(key_file)},
    )
    assert destination.config["property_id"] == PROPERTY_ID
    assert "PRIVATE KEY" not in destination.secrets_encrypted
    assert "service_account_key" not in destination.config


# --- The destination form ------------------------------------------------------------------


def test_the_ga4_form_takes_the_deletion_settings_and_never_echoes_the_key(
    client, admin_user, workspace
):
    client.force_login(admin_user)
    new = reverse("destinations:destination-create", args=[workspace.slug])
    page = client.get(new + "?type=ga4_mp").content.decode()
    assert 'name="property_id"' in page
    assert '<textarea name="service_account_key"' in page

    key_file, _ = service_account()
    body = {
        "type": "ga4_mp",
        "name": "GA4",
        "measurement_id": "G-ABC123XYZ9",
        "api_secret": SECRETS["ga4_mp"]["api_secret"],
        "property_id": PROPERTY_ID,  # without a key: refused
        "consent_overrides": "",
        "autopause_error_percent": "50",
        "autopause_min_attempts": "20",
        "autopause_window_minutes": "5",
        "max_concurrency": "4",
    }
    refused = client.post(new, body)
    assert refused.status_code == 422
    text = refused.content.decode()
    assert "User deletion needs a service account key as well." in text

    saved = client.post(new, {**body, "service_account_key": json.dumps(key_file)})
    assert saved.status_code == 302
    edit = client.get(saved["Location"]).content.decode()
    assert "PRIVATE KEY" not in edit and key_file["client_email"] not in edit
    assert f'value="{PROPERTY_ID}"' in edit

    # Clearing the property ID turns deletions off; the stored key stays, unused.
    destination = Destination.objects.get(workspace=workspace, type="ga4_mp")
    routing.destination_update(
        workspace=workspace,
        actor=admin_user,
        destination=destination,
        values={"config": {"property_id": ""}},
    )
    destination.refresh_from_db()
    assert "property_id" not in destination.config
