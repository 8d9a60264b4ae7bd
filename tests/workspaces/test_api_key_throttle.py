"""Failed API key attempts are throttled per client address and per key prefix (429
``api_key_throttled`` with Retry-After, shared through Redis), and an unknown prefix costs the
same bcrypt as a wrong secret — issue 11, finding 9."""

import bcrypt
import pytest

from tests.factories import WorkspaceFactory
from tests.workspaces.helpers import (
    Authenticator,
    bearer,
    hashes_checked_by,
    unknown_token,
    wrong_secret,
)
from workspaces import api_key_cache
from workspaces.auth import throttle
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.exceptions import ApiKeyInvalidError, ApiKeyThrottledError

pytestmark = pytest.mark.django_db

WHOAMI = "/v1/whoami"
ATTACKER = "203.0.113.7"
HOLDER = "198.51.100.20"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.API_KEY_THROTTLE_PER_IP = 3
    settings.API_KEY_THROTTLE_PER_PREFIX = 5
    settings.API_KEY_THROTTLE_WINDOW_SECONDS = 120
    throttle._marked.clear()


@pytest.fixture
def checkpw_calls(monkeypatch):
    """Every bcrypt.checkpw call, counted at the library (not at our wrapper)."""
    return hashes_checked_by(monkeypatch, bcrypt, "checkpw")


def whoami(api_client, token, address):
    return api_client.get(WHOAMI, REMOTE_ADDR=address, **bearer(token))


def assert_throttled(response):
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "api_key_throttled"
    assert 0 < int(response["Retry-After"]) <= 120


# --- One price for every refusal -----------------------------------------------------------------


def test_an_unknown_prefix_costs_one_bcrypt_like_a_wrong_secret(
    api_client, workspace, make_api_key, checkpw_calls
):
    _, token = make_api_key(workspace)

    unknown = whoami(api_client, unknown_token(), ATTACKER)
    assert unknown.status_code == 401
    assert len(checkpw_calls) == 1

    wrong = whoami(api_client, wrong_secret(token), ATTACKER)
    assert wrong.status_code == 401
    assert len(checkpw_calls) == 2
    # Same answer both ways: nothing tells which prefixes exist.
    assert unknown.json() == wrong.json()


def test_the_wrong_environment_costs_one_bcrypt_too(workspace, make_api_key, checkpw_calls):
    _, token = make_api_key(workspace)
    with pytest.raises(ApiKeyInvalidError):
        api_key_authenticate(token.replace("tl_live_", "tl_test_"), client_ip=ATTACKER)
    assert len(checkpw_calls) == 1


# --- Per client address --------------------------------------------------------------------------


def test_an_address_that_keeps_failing_gets_429_without_bcrypt(
    api_client, workspace, make_api_key, checkpw_calls
):
    _, token = make_api_key(workspace)

    for _ in range(3):
        assert whoami(api_client, unknown_token(), ATTACKER).status_code == 401
    assert len(checkpw_calls) == 3

    # Any further attempt from that address — new prefix or real prefix — costs no bcrypt
    assert_throttled(whoami(api_client, unknown_token(), ATTACKER))
    assert_throttled(whoami(api_client, wrong_secret(token), ATTACKER))
    assert len(checkpw_calls) == 3

    # while the key's holder, elsewhere, is not affected
    assert whoami(api_client, token, HOLDER).status_code == 200


def test_a_key_verified_by_the_cache_is_never_held_back(api_client, workspace, make_api_key):
    _, token = make_api_key(workspace)
    assert whoami(api_client, token, ATTACKER).status_code == 200  # cached now

    for _ in range(3):
        whoami(api_client, unknown_token(), ATTACKER)
    assert_throttled(whoami(api_client, unknown_token(), ATTACKER))

    # Verifying a cached secret costs nothing, so even the throttled address may use it.
    assert whoami(api_client, token, ATTACKER).status_code == 200


def test_ipv6_addresses_are_counted_per_slash_64(api_client):
    for host in range(1, 4):
        whoami(api_client, unknown_token(), f"2001:db8:1:2::{host}")
    assert_throttled(whoami(api_client, unknown_token(), "2001:db8:1:2:ffff::1"))
    assert whoami(api_client, unknown_token(), "2001:db8:1:3::1").status_code == 401


def test_a_spoofed_forwarded_for_does_not_reset_the_count(api_client, settings):
    settings.INGEST_TRUST_PROXY = True
    for n in range(3):
        # The client writes what it likes in front; the proxy appends what it saw.
        forwarded = f"10.0.0.{n}, {ATTACKER}"
        api_client.get(WHOAMI, HTTP_X_FORWARDED_FOR=forwarded, **bearer(unknown_token()))
    response = api_client.get(
        WHOAMI, HTTP_X_FORWARDED_FOR=f"10.9.9.9, {ATTACKER}", **bearer(unknown_token())
    )
    assert_throttled(response)


# --- Per prefix ----------------------------------------------------------------------------------


def test_a_prefix_attacked_from_many_addresses_is_throttled_but_its_holder_keeps_working(
    api_client, workspace, make_api_key, checkpw_calls
):
    key, token = make_api_key(workspace)
    assert whoami(api_client, token, HOLDER).status_code == 200  # the holder's usual address
    calls_before = len(checkpw_calls)

    # Five addresses, one wrong secret each: the prefix's budget is spent
    for n in range(5):
        assert whoami(api_client, wrong_secret(token), f"192.0.2.{n}").status_code == 401
    assert_throttled(whoami(api_client, wrong_secret(token), "192.0.2.99"))
    assert len(checkpw_calls) == calls_before + 5

    # The holder's cached key works from anywhere (no bcrypt needed)
    assert whoami(api_client, token, "192.0.2.200").status_code == 200
    # and once the cache entry is gone, still works from where it was verified before
    api_key_cache._redis().delete(api_key_cache._cache_key(key.prefix))
    api_key_cache.local_forget(key.prefix)
    assert whoami(api_client, token, HOLDER).status_code == 200


def test_the_throttle_holds_across_processes(transactional_db, make_api_key, monkeypatch):

    _key, token = make_api_key(WorkspaceFactory())
    for _ in range(5):
        with pytest.raises(ApiKeyInvalidError):
            api_key_authenticate(wrong_secret(token))

    monkeypatch.setenv("API_KEY_THROTTLE_PER_PREFIX", "5")  # the same limit over there
    other = Authenticator()
    try:
        answer = other.authenticate(wrong_secret(token))
    finally:
        other.close()
    assert answer == "refused api_key_throttled"


# --- Ingestion -----------------------------------------------------------------------------------


def test_ingestion_answers_429_with_retry_after(client, workspace, make_api_key):
    body = b'{"type":"track","event":"x","anonymousId":"a","messageId":"m-1"}'
    answers = [
        client.post(
            "/v1/track",
            body,
            content_type="application/json",
            REMOTE_ADDR=ATTACKER,
            HTTP_AUTHORIZATION=f"Bearer {unknown_token()}",
        )
        for _ in range(4)
    ]
    assert [answer.status_code for answer in answers[:3]] == [401, 401, 401]
    assert_throttled(answers[3])


def test_a_throttled_attempt_raises_with_the_wait(workspace, make_api_key):
    _, token = make_api_key(workspace)
    for _ in range(3):
        with pytest.raises(ApiKeyInvalidError):
            api_key_authenticate(unknown_token(), client_ip=ATTACKER)
    with pytest.raises(ApiKeyThrottledError) as raised:
        api_key_authenticate(token, client_ip=ATTACKER)
    assert 0 < raised.value.retry_after <= 120
