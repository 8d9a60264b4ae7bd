"""API key authentication, through the real DRF API (``/v1/whoami``, ``/v1/members``)."""

import datetime as dt
import time

import orjson
import pytest
from django.utils import timezone

from tests.factories import WorkspaceFactory
from tests.workspaces.helpers import basic, bearer, hashes_checked_by, wrong_secret
from workspaces import api_key_cache, keys, services
from workspaces.api_key_cache import api_key_cache_get
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.models import ApiKey, ApiKeyRole
from workspaces.residency import workspace_data_residency

pytestmark = pytest.mark.django_db

WHOAMI = "/v1/whoami"
MEMBERS = "/v1/members"
# How soon another process refuses a revoked key it has cached (ADR 0020: the pub/sub
# message, a few milliseconds here; the listener's lease bounds a lost message).
REVOCATION_BOUND_SECONDS = 1.0


def assert_refused(response, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"] == 'Bearer realm="tracklayer"'


@pytest.fixture
def move_time(monkeypatch):
    """``move_time(delta)``: from now on, ``timezone.now()`` is ``delta`` later."""

    def move(delta: dt.timedelta) -> None:
        moved = timezone.now() + delta
        monkeypatch.setattr(timezone, "now", lambda: moved)

    return move


# --- Accepted ------------------------------------------------------------------------------------


def test_bearer_key_authenticates_as_its_workspace(api_client, workspace, make_api_key):
    key, token = make_api_key(workspace, role=ApiKeyRole.WRITE)

    response = api_client.get(WHOAMI, **bearer(token))

    assert response.status_code == 200
    assert response.json() == {
        "workspace_id": workspace.public_id,
        "workspace_name": workspace.name,
        "region": workspace.region,
        "data_residency": workspace_data_residency(workspace=workspace),
        "key_id": key.public_id,
        "key_prefix": key.display_prefix,
        "role": "write",
        "expires_at": key.expires_at.isoformat().replace("+00:00", "Z"),
    }


def test_basic_with_the_key_as_user_and_no_password(api_client, workspace, make_api_key):
    key, token = make_api_key(workspace)

    response = api_client.get(WHOAMI, **basic(token))

    assert response.status_code == 200
    assert response.json()["key_id"] == key.public_id


def test_members_lists_the_keys_workspace(
    api_client, workspace, admin_user, editor_user, make_api_key
):
    _, token = make_api_key(workspace, role=ApiKeyRole.VIEWER)

    response = api_client.get(MEMBERS, **bearer(token))

    assert response.status_code == 200
    members = {m["email"]: m["role"] for m in response.json()["data"]}
    assert members == {admin_user.email: "admin", editor_user.email: "editor"}


def test_a_key_of_another_workspace_never_sees_this_workspaces_members(
    api_client, workspace, admin_user, viewer_user, other_workspace, other_admin_user, make_api_key
):
    _, token = make_api_key(other_workspace, role=ApiKeyRole.ADMIN)

    response = api_client.get(MEMBERS, **bearer(token))

    assert response.status_code == 200
    emails = [m["email"] for m in response.json()["data"]]
    assert emails == [other_admin_user.email]
    assert admin_user.email not in emails
    assert viewer_user.email not in emails


def test_a_write_key_may_not_list_members(api_client, workspace, make_api_key):
    _, token = make_api_key(workspace, role=ApiKeyRole.WRITE)

    response = api_client.get(MEMBERS, **bearer(token))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


# --- Refused -------------------------------------------------------------------------------------


# case: (request headers, given a valid token of the workspace; the code the 401 names)
REFUSALS = {
    "missing header": (lambda token: {}, "api_key_missing"),
    "empty bearer": (lambda token: bearer(""), "api_key_malformed"),
    "not a key": (lambda token: bearer("sk_live_12345"), "api_key_malformed"),
    "truncated": (lambda token: bearer(token[:-1]), "api_key_malformed"),
    "unknown scheme": (lambda token: {"HTTP_AUTHORIZATION": f"Token {token}"}, "api_key_malformed"),
    "basic not base64": (lambda token: {"HTTP_AUTHORIZATION": "Basic !!!"}, "api_key_malformed"),
    "unknown prefix": (
        lambda token: bearer(keys.format_token("live", keys.new_prefix(), keys.new_secret())),
        "api_key_invalid",
    ),
    "wrong secret": (lambda token: bearer(wrong_secret(token)), "api_key_invalid"),
    "basic wrong secret": (lambda token: basic(wrong_secret(token)), "api_key_invalid"),
    "wrong environment": (
        lambda token: bearer(token.replace("tl_live_", "tl_test_")),
        "api_key_invalid",
    ),
}


@pytest.mark.parametrize("url", [WHOAMI, MEMBERS])
@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_say_why(api_client, workspace, make_api_key, case, url):
    _, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)
    headers, code = REFUSALS[case]

    response = api_client.get(url, **headers(token))

    assert_refused(response, code)


@pytest.mark.parametrize("url", [WHOAMI, MEMBERS])
def test_a_revoked_key_is_refused(
    api_client, workspace, system_actor, make_api_key, url, django_capture_on_commit_callbacks
):
    key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)

    assert_refused(api_client.get(url, **bearer(token)), "api_key_revoked")


@pytest.mark.parametrize("url", [WHOAMI, MEMBERS])
def test_an_expired_key_is_refused(api_client, workspace, make_api_key, url):
    key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert_refused(api_client.get(url, **bearer(token)), "api_key_expired")


def test_revoked_and_expired_are_only_told_to_the_holder_of_the_secret(
    api_client, workspace, system_actor, make_api_key
):
    key, token = make_api_key(workspace)
    services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)

    assert_refused(api_client.get(WHOAMI, **bearer(wrong_secret(token))), "api_key_invalid")


# --- The verification cache ----------------------------------------------------------------------


@pytest.fixture
def count_bcrypt(monkeypatch):
    """The hashes checked through ``keys.check_secret`` (bcrypt), one per call."""
    return hashes_checked_by(monkeypatch, keys, "check_secret")


def test_a_cached_key_skips_bcrypt(api_client, workspace, make_api_key, count_bcrypt):
    key, token = make_api_key(workspace)

    first = api_client.get(WHOAMI, **bearer(token))
    second = api_client.get(WHOAMI, **basic(token))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert count_bcrypt == [key.secret_hash]


def test_a_wrong_secret_is_refused_against_the_cache_too(
    api_client, workspace, make_api_key, count_bcrypt
):
    key, token = make_api_key(workspace)
    api_client.get(WHOAMI, **bearer(token))

    assert_refused(api_client.get(WHOAMI, **bearer(wrong_secret(token))), "api_key_invalid")
    # A cache entry that does not match is not the last word: the database and bcrypt decide
    # (behind the failed-attempt throttle), and the right secret's entry stays.
    assert count_bcrypt == [key.secret_hash, key.secret_hash]
    assert api_client.get(WHOAMI, **bearer(token)).status_code == 200
    assert len(count_bcrypt) == 2


def test_a_secret_key_rotation_does_not_refuse_cached_keys(
    api_client, workspace, make_api_key, count_bcrypt, settings
):
    # Given a key verified (and cached) under one SECRET_KEY
    key, token = make_api_key(workspace)
    assert api_client.get(WHOAMI, **bearer(token)).status_code == 200
    before = api_key_cache_get(key.prefix)

    # When the server's SECRET_KEY is rotated
    settings.SECRET_KEY = "rotated-" + "y" * 50

    # Then the key still authenticates: the stale entry sends it to the database once,
    # and the entry is made again under the new key
    assert api_client.get(WHOAMI, **bearer(token)).status_code == 200
    after = api_key_cache_get(key.prefix)
    assert after["digest_key_id"] != before["digest_key_id"]
    assert after["digest"] != before["digest"]
    assert api_client.get(WHOAMI, **bearer(token)).status_code == 200
    assert count_bcrypt == [key.secret_hash, key.secret_hash]


def test_a_cache_entry_that_does_not_match_falls_back_to_the_database(
    workspace, make_api_key, count_bcrypt
):

    key, token = make_api_key(workspace)
    api_key_authenticate(token)
    entry = api_key_cache_get(key.prefix)
    entry["digest"] = "0" * 64  # whatever made it (an older format, a bug): never trusted
    api_key_cache._redis().set(api_key_cache._cache_key(key.prefix), orjson.dumps(entry))
    api_key_cache.local_forget(key.prefix)  # this process reads the shared entry again

    assert api_key_authenticate(token).pk == key.pk
    assert api_key_cache_get(key.prefix)["digest"] == keys.secret_digest(
        keys.parse_token(token).secret
    )
    assert len(count_bcrypt) == 2


def test_a_cached_key_is_refused_once_revoked(
    api_client, workspace, system_actor, make_api_key, django_capture_on_commit_callbacks
):
    key, token = make_api_key(workspace)
    assert api_client.get(WHOAMI, **bearer(token)).status_code == 200
    assert api_key_cache_get(key.prefix) is not None

    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)

    assert_refused(api_client.get(WHOAMI, **bearer(token)), "api_key_revoked")


def test_a_cached_key_is_refused_once_expired(api_client, workspace, make_api_key, move_time):
    key, token = make_api_key(workspace, expires_at=timezone.now() + dt.timedelta(hours=1))
    assert api_client.get(WHOAMI, **bearer(token)).status_code == 200
    assert api_key_cache_get(key.prefix) is not None

    move_time(dt.timedelta(hours=1, seconds=1))

    assert_refused(api_client.get(WHOAMI, **bearer(token)), "api_key_expired")


def test_rotation_keeps_the_old_key_working_for_the_grace_only(
    api_client, workspace, system_actor, make_api_key, move_time, django_capture_on_commit_callbacks
):
    old, old_token = make_api_key(workspace)
    assert api_client.get(WHOAMI, **bearer(old_token)).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        new, new_token = services.api_key_rotate(
            workspace=workspace, actor=system_actor, key=old, grace=dt.timedelta(hours=1)
        )

    # During the grace period both keys work.
    during_old = api_client.get(WHOAMI, **bearer(old_token))
    assert during_old.status_code == 200
    assert during_old.json()["key_id"] == old.public_id
    assert api_client.get(WHOAMI, **bearer(new_token)).json()["key_id"] == new.public_id

    move_time(dt.timedelta(hours=1, seconds=1))

    assert_refused(api_client.get(WHOAMI, **bearer(old_token)), "api_key_expired")
    assert api_client.get(WHOAMI, **bearer(new_token)).json()["key_id"] == new.public_id


def test_last_used_at_is_written_at_most_once_a_minute(api_client, workspace, make_api_key):
    key, token = make_api_key(workspace)
    assert key.last_used_at is None

    api_client.get(WHOAMI, **bearer(token))
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None
    assert timezone.now() - first_use < dt.timedelta(seconds=30)

    # Within the minute, further requests leave it alone.
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    api_client.get(WHOAMI, **bearer(token))
    key.refresh_from_db()
    assert key.last_used_at is None

    # The once-a-minute claim (shared in Redis, remembered per process) lapses after 60
    # seconds; dropping both stands in for the wait.
    claim = api_key_cache.touch_claim_key(key.pk)
    assert 0 < api_key_cache._redis().ttl(claim) <= 60
    api_key_cache._redis().delete(claim)
    api_key_cache._touched.clear()
    api_client.get(WHOAMI, **bearer(token))
    key.refresh_from_db()
    assert key.last_used_at is not None


# --- Revocation seen by another process ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # both processes must see each other's commits
def test_revocation_is_seen_by_another_process_at_once(system_actor, make_api_key, second_process):
    workspace = WorkspaceFactory()
    key, token = make_api_key(workspace)
    # Warm the shared cache from the other process.
    assert second_process.authenticate(token) == f"ok {key.public_id}"
    assert second_process.authenticate(token) == f"ok {key.public_id}"
    assert api_key_cache_get(key.prefix) is not None

    services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)

    # The revocation is pushed to the other process when it commits (ADR 0020): it refuses the
    # key as soon as its listener has the message, well within the bound
    deadline = time.monotonic() + REVOCATION_BOUND_SECONDS
    answer = second_process.authenticate(token)
    while answer != "refused api_key_revoked" and time.monotonic() < deadline:
        assert answer == f"ok {key.public_id}"
        answer = second_process.authenticate(token)
    assert answer == "refused api_key_revoked"
