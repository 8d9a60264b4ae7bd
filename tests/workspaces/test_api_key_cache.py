"""API keys verified in process, revocation pushed through Redis (docs/adr/0020).

The second process here is a real one (a child Python with Django set up against the test
databases and Redis), so what is tested is what gunicorn's workers do: each keeps its own LRU
and its own listener, and learns of a change only through Redis.
"""

import datetime as dt
import os
import signal
import textwrap
import threading
import time

import pytest
from django.db import transaction

from tests.factories import WorkspaceFactory
from tests.workspaces.helpers import Authenticator
from workspaces import api_key_cache, services
from workspaces.api_key_cache import LocalCache, api_key_cache_forget, api_key_cache_get
from workspaces.auth import api_keys
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.exceptions import ApiKeyExpiredError, ApiKeyRevokedError
from workspaces.models import ApiKey, ApiKeyRole

# How soon another process must act on a change it has cached: the pub/sub message takes
# milliseconds; a lost one is bounded by the listener's lease (LEASE_SECONDS).
BOUND_SECONDS = 1.0

WORKER = textwrap.dedent(
    """
    import sys

    import django

    django.setup()

    from workspaces import api_key_cache
    from workspaces.auth.api_keys import api_key_authenticate
    from workspaces.exceptions import ApiKeyError

    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "auth":
            try:
                key = api_key_authenticate(argument)
            except ApiKeyError as error:
                print("refused", error.code, flush=True)
            else:
                print("ok", key.public_id, key.role, flush=True)
        elif command == "local":  # does this process hold the prefix in its own LRU?
            found = api_key_cache._local.get(argument, float("-inf")) is not None
            print("yes" if found else "no", flush=True)
    """
)


class Worker(Authenticator):
    """A second process that authenticates tokens and says what its own cache holds."""

    def __init__(self):
        super().__init__(WORKER)

    def authenticate(self, token: str) -> str:
        return self.ask(f"auth {token}")

    def holds(self, prefix: str) -> bool:
        return self.ask(f"local {prefix}") == "yes"

    def until(self, token: str, expected: str, seconds: float = BOUND_SECONDS) -> tuple[str, float]:
        """Authenticate until the answer is ``expected`` or ``seconds`` pass: the last answer
        and how long it took."""
        started = time.monotonic()
        answer = self.authenticate(token)
        while answer != expected and time.monotonic() - started < seconds:
            answer = self.authenticate(token)
        return answer, time.monotonic() - started


@pytest.fixture
def worker(transactional_db):
    process = Worker()
    yield process
    process.close()


def _served_locally(worker: Worker, key: ApiKey, token: str) -> None:
    """Warm the other process, then prove it answers from its own LRU: the shared entry is
    deleted behind its back (no announcement) and it still accepts the key."""
    assert worker.authenticate(token) == f"ok {key.public_id} {key.role}"
    assert worker.holds(key.prefix)
    api_key_cache._redis().delete(api_key_cache._cache_key(key.prefix))
    assert worker.authenticate(token) == f"ok {key.public_id} {key.role}"


# --- Pushed to another process ---------------------------------------------------------------


def test_a_revocation_reaches_another_process_that_serves_the_key_from_memory(
    worker, system_actor, make_api_key
):
    workspace = WorkspaceFactory()
    key, token = make_api_key(workspace)
    _served_locally(worker, key, token)

    services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)

    answer, took = worker.until(token, "refused api_key_revoked")
    assert answer == "refused api_key_revoked", f"still {answer!r} after {took:.2f} s"
    assert not worker.holds(key.prefix)


def test_a_rotated_keys_old_secret_is_refused_by_another_process(
    worker, system_actor, make_api_key
):
    workspace = WorkspaceFactory()
    old, old_token = make_api_key(workspace)
    _served_locally(worker, old, old_token)

    new, new_token = services.api_key_rotate(
        workspace=workspace, actor=system_actor, key=old, grace=dt.timedelta(0)
    )

    answer, took = worker.until(old_token, "refused api_key_expired")
    assert answer == "refused api_key_expired", f"still {answer!r} after {took:.2f} s"
    assert worker.authenticate(new_token) == f"ok {new.public_id} {new.role}"


def test_a_role_change_reaches_another_process(worker, make_api_key):
    # No service changes a key's role today; whatever does must forget the key (as the
    # admin's or a migration's change would), and every process then sees the new role.
    workspace = WorkspaceFactory()
    key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)
    _served_locally(worker, key, token)

    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk).update(role=ApiKeyRole.WRITE)
        api_key_cache_forget(key)

    expected = f"ok {key.public_id} {ApiKeyRole.WRITE}"
    answer, took = worker.until(token, expected)
    assert answer == expected, f"still {answer!r} after {took:.2f} s"


def test_nothing_is_announced_before_the_change_commits(worker, system_actor, make_api_key):
    workspace = WorkspaceFactory()
    key, token = make_api_key(workspace)
    _served_locally(worker, key, token)

    with transaction.atomic():
        services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)
        # Not committed: the other process must keep the key (the change may roll back).
        time.sleep(0.2)
        assert worker.holds(key.prefix)

    answer, _took = worker.until(token, "refused api_key_revoked")
    assert answer == "refused api_key_revoked"


# --- Failing closed --------------------------------------------------------------------------


def _wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_lost_listener_connection_empties_the_cache_and_it_resubscribes(
    transactional_db, make_api_key
):
    key, token = make_api_key(WorkspaceFactory())
    api_key_authenticate(token)
    listener = api_key_cache._live_listener()
    assert _wait_for(lambda: listener.alive(time.monotonic()))
    api_key_authenticate(token)
    assert api_key_cache._local.get(key.prefix, time.monotonic()) is not None
    generation = api_key_cache._local.generation

    # The listener's connection is cut (a Redis restart, a network fault): a message sent
    # meanwhile could be lost, so what this process holds is no longer trusted
    api_key_cache._redis().client_kill_filter(_type="pubsub")

    assert _wait_for(lambda: api_key_cache._local.generation > generation)
    assert api_key_cache._local.get(key.prefix, time.monotonic()) is None
    # and once subscribed again it serves from memory again
    assert _wait_for(lambda: api_key_cache._live_listener().alive(time.monotonic()))
    api_key_authenticate(token)
    assert api_key_cache._local.get(key.prefix, time.monotonic()) is not None


def test_without_a_live_listener_every_request_reads_redis(
    transactional_db, make_api_key, monkeypatch
):
    key, token = make_api_key(WorkspaceFactory())
    api_key_authenticate(token)
    listener = api_key_cache._live_listener()
    assert _wait_for(lambda: listener.alive(time.monotonic()))
    assert api_key_cache_get(key.prefix) is not None
    assert api_key_cache._local.get(key.prefix, time.monotonic()) is not None

    # The listener has not heard from Redis within the lease (stuck, or its socket silently
    # dead): the local copy is bypassed, so a shared entry deleted without a message is gone
    monkeypatch.setattr(api_key_cache, "LEASE_SECONDS", 0.0)
    api_key_cache._redis().delete(api_key_cache._cache_key(key.prefix))
    assert api_key_cache_get(key.prefix) is None


def test_a_fill_that_raced_an_invalidation_is_not_kept():
    local = LocalCache()
    generation = local.generation  # read before the entry was read from Redis
    local.forget("abc")  # the announcement arrives in between
    assert not local.put("abc", {"id": 1}, time.monotonic() + 30, generation)
    assert local.get("abc", time.monotonic()) is None


# --- Bounded ---------------------------------------------------------------------------------


def test_the_lru_is_bounded_and_drops_the_least_recently_used():
    local = LocalCache(maximum=3)
    now = time.monotonic()
    for prefix in ("a", "b", "c"):
        local.put(prefix, {"prefix": prefix}, now + 30, local.generation)
    assert local.get("a", now) is not None  # "a" is now the most recently used

    local.put("d", {"prefix": "d"}, now + 30, local.generation)

    assert len(local) == 3
    assert local.get("b", now) is None
    assert {p for p in "acd" if local.get(p, now) is not None} == {"a", "c", "d"}


def test_an_entry_lapses_after_its_ttl_and_never_past_the_keys_expiry():
    local = LocalCache()
    now = time.monotonic()
    local.put("a", {}, now + 30, local.generation)
    assert local.get("a", now + 29) is not None
    assert local.get("a", now + 30) is None

    expiring = {"expires_at": time.time() + 5}
    assert api_key_cache._lapses_at(expiring, now) <= now + 5
    assert api_key_cache._lapses_at({"expires_at": None}, now) == now + api_key_cache.LOCAL_SECONDS


# --- A fill racing a change ------------------------------------------------------------------


def test_a_revocation_committed_while_the_key_was_verified_is_not_cached(
    transactional_db, system_actor, make_api_key, monkeypatch
):
    # The database path re-reads the key after bcrypt; a revocation that commits after that
    # re-read (and is announced) but before the entry is stored must not leave the revoked
    # key cached — in Redis for API_KEY_CACHE_SECONDS, or in this process's LRU.
    workspace = WorkspaceFactory()
    key, token = make_api_key(workspace)
    verify = api_keys._verify_from_database

    def verify_then_revoke(parsed, now):
        verified = verify(parsed, now)
        services.api_key_revoke(workspace=workspace, actor=system_actor, key=key)
        return verified

    monkeypatch.setattr(api_keys, "_verify_from_database", verify_then_revoke)
    api_key_authenticate(token)  # verified before the revocation: this one request passes
    monkeypatch.setattr(api_keys, "_verify_from_database", verify)

    assert api_key_cache._redis().get(api_key_cache._cache_key(key.prefix)) is None
    assert api_key_cache._local.get(key.prefix, time.monotonic()) is None
    with pytest.raises(ApiKeyRevokedError):
        api_key_authenticate(token)


def test_a_rotation_committed_while_the_key_was_verified_is_not_cached(
    transactional_db, system_actor, make_api_key, monkeypatch
):
    # The rotation shortens the old key's expiry to now: an entry carrying the old expiry
    # (none) would keep the old secret working for API_KEY_CACHE_SECONDS.
    workspace = WorkspaceFactory()
    key, token = make_api_key(workspace, expires_at=None)
    verify = api_keys._verify_from_database

    def verify_then_rotate(parsed, now):
        verified = verify(parsed, now)
        services.api_key_rotate(
            workspace=workspace, actor=system_actor, key=key, grace=dt.timedelta(0)
        )
        return verified

    monkeypatch.setattr(api_keys, "_verify_from_database", verify_then_rotate)
    api_key_authenticate(token)
    monkeypatch.setattr(api_keys, "_verify_from_database", verify)

    with pytest.raises(ApiKeyExpiredError):
        api_key_authenticate(token)


# --- Forked children (gunicorn --preload, Celery's prefork pool) -----------------------------


def test_a_forked_child_keeps_no_entry_and_no_held_lock_of_its_parent():
    now = time.monotonic()
    api_key_cache._local.put("abc", {"id": 1}, now + 30, api_key_cache._local.generation)

    def child() -> bool:
        # The parent's thread held the LRU's lock at the fork; the child must not hang on it,
        # and must not trust the parent's entries (no listener of its own yet).
        signal.alarm(5)
        return api_key_cache._local.get("abc", now) is None and len(api_key_cache._local) == 0

    with api_key_cache._local._lock:  # as the listener thread may hold it at the fork
        pid = os.fork()
        if pid == 0:
            status = 2
            try:
                status = 0 if child() else 1
            finally:
                os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_stopped_listener_joins_and_reports_itself_dead():
    # The listener's own stop flag once shadowed threading.Thread._stop(), which join() and
    # is_alive() call when the thread has ended: both raised TypeError (and so would every
    # request asking whether its process's listener still runs).
    listener = api_key_cache.Listener(LocalCache())
    listener.start()
    listener.stop()
    listener.join(5)
    assert not listener.is_alive()


def test_forking_while_the_listener_runs_leaves_the_childs_threads_consistent():
    listener = api_key_cache.Listener(LocalCache())
    listener.start()
    try:
        pid = os.fork()
        if pid == 0:
            status = 2
            try:
                # threading's own after-fork step marks the parent's threads stopped; it
                # failed on the listener (TypeError) and left them all listed as running.
                signal.alarm(5)
                status = 0 if threading.enumerate() == [threading.current_thread()] else 1
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        listener.stop()
        listener.join(5)
