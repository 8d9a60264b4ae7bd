"""The cache of verified API keys: in this process, filled from Redis, emptied by Redis pub/sub.

An entry holds the keyed digest of the secret that was verified with bcrypt, the id of the key
that made the digest, and what authentication needs (workspace, role, expiry). A request whose
secret has the same digest under the same key is authenticated without bcrypt and without the
database. An entry that does not match is never the last word: the database and bcrypt decide
(behind the failed-attempt throttle), and a success replaces the entry — so a ``SECRET_KEY``
rotation costs one bcrypt per key, not minutes of refusals (docs/adr/0003).

Two levels (docs/adr/0020-api-keys-verified-in-process.md):

- **Redis** holds every verified key under its prefix (``API_KEY_CACHE_SECONDS``), shared by
  every process, as before: a process meeting a key for the first time reads it there.
- **This process** keeps the entries it used in a bounded LRU (``LOCAL_MAX`` entries, keyed by
  the public prefix — never the secret, which only the digest stands for), so a request usually
  costs no Redis round trip for its key. Each entry lives at most ``LOCAL_SECONDS`` (a
  backstop) and never past the key's expiry, which is checked on every request anyway.

Revoking, rotating or any change to a key deletes its Redis entry and PUBLISHes its prefix on
``channel()`` when the change commits (one MULTI: the delete before the message). Every process
runs one listener thread subscribed to that channel; a message drops the prefix from the
process's LRU. The LRU is trusted only while the listener is known to be connected — it pings
Redis every ``PING_SECONDS`` and must have heard from it within ``LEASE_SECONDS`` — and it is
emptied whenever the listener (re)subscribes or loses its connection: a message missed while
disconnected cannot leave a revoked key usable past the lease. Without a live listener every
request reads Redis, exactly as under ADR 0003 (fail closed to the shared cache, not open).

A fill races a revocation safely: the LRU keeps an entry read from Redis only if no message
arrived between the read and the store (a generation counter, under the LRU's lock); and an
entry made from the database is stored in Redis first, then the key's row is read again, and
the entry is taken back if a change committed since the caller read it (its announcement may
have come before the store).

This is on every API request's path, so it talks to Redis through one long-lived client per
process (Django's cache API builds a client per call) and stores JSON, never pickles.
"""

import atexit
import contextlib
import datetime as dt
import functools
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tracklayer.redis_client import key_prefix, redis_client
from workspaces import keys
from workspaces.models import ApiKey

logger = logging.getLogger("tracklayer.security")

LOCAL_MAX = 10_000  # entries in a process's LRU; the least recently used goes first
LOCAL_SECONDS = 30.0  # a backstop: an entry is read from Redis again at least this often
PING_SECONDS = 1.0  # the listener pings Redis this often on its subscribed connection …
LEASE_SECONDS = 3.0  # … and the LRU is bypassed when it has heard nothing for this long
RETRY_SECONDS = 1.0  # the listener's pause before subscribing again after an error
FLUSH_ALL = b"*"  # a message that empties every process's LRU

# key id → monotonic time of this process's last ``last_used_at`` claim
_touched: dict[int, float] = {}
TOUCH_INTERVAL = 60.0
_redis = redis_client


def _namespace() -> str:
    return f"{key_prefix()}:apikey:v2"


def _cache_key(prefix: str) -> str:
    return f"{_namespace()}:{prefix}"


def channel() -> str:
    """Where changes to keys are announced (pub/sub channels ignore Redis's database number,
    so the key prefix of the cache settings names the deployment)."""
    return f"{_namespace()}:changed"


def touch_claim_key(key_id: int) -> str:
    return f"{_namespace()}:used:{key_id}"


class LocalCache:
    """A bounded LRU of cache entries by prefix, each with the monotonic time it lapses, and a
    generation counter that every invalidation advances."""

    def __init__(self, maximum: int = LOCAL_MAX):
        self.maximum = maximum
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, prefix: str, now: float) -> dict | None:
        with self._lock:
            found = self._entries.get(prefix)
            if found is None:
                return None
            if found[0] <= now:
                del self._entries[prefix]
                return None
            self._entries.move_to_end(prefix)
            return found[1]

    def put(self, prefix: str, entry: dict, lapses_at: float, generation: int) -> bool:
        """Keep ``entry`` unless an invalidation came after ``generation`` was read."""
        with self._lock:
            if generation != self.generation:
                return False
            self._entries[prefix] = (lapses_at, entry)
            self._entries.move_to_end(prefix)
            while len(self._entries) > self.maximum:
                self._entries.popitem(last=False)
            return True

    def forget(self, prefix: str | None = None) -> None:
        """Drop one prefix (every entry with None), and refuse fills read before now."""
        with self._lock:
            self.generation += 1
            if prefix is None:
                self._entries.clear()
            else:
                self._entries.pop(prefix, None)


class Listener(threading.Thread):
    """The process's subscriber to ``channel()``: drops announced prefixes from ``local``, and
    keeps ``heard_at`` (monotonic) current while its connection answers."""

    def __init__(self, local: LocalCache, client=None):
        super().__init__(name="api-key-cache-listener", daemon=True)
        self.local = local
        self.client = client
        self.heard_at = float("-inf")
        self.subscribed = False
        self._halt = threading.Event()  # not ``_stop``: threading.Thread has its own

    def alive(self, now: float) -> bool:
        return self.subscribed and now - self.heard_at < LEASE_SECONDS

    def stop(self) -> None:
        self._halt.set()

    def _lost(self) -> None:
        self.subscribed = False
        self.heard_at = float("-inf")
        self.local.forget()

    def run(self) -> None:
        while not self._halt.is_set():
            pubsub = None
            try:
                pubsub = (self.client or _redis()).pubsub()
                pubsub.subscribe(channel())
                self._listen(pubsub)
            except Exception:  # any failure: forget everything, subscribe again
                if not self._halt.is_set():
                    logger.warning("API key listener lost Redis; the local cache is bypassed")
            finally:
                self._lost()
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection
                        pubsub.close()
            self._halt.wait(RETRY_SECONDS)

    def _listen(self, pubsub) -> None:
        pinged_at = time.monotonic()
        while not self._halt.is_set():
            message = pubsub.get_message(timeout=PING_SECONDS / 2)
            now = time.monotonic()
            if message is not None:
                kind = message["type"]
                if kind == "subscribe":
                    # Whatever was announced before this moment may have been missed.
                    self.local.forget()
                    self.subscribed = True
                    self.heard_at = now
                elif kind == "message":
                    data = message["data"]
                    self.local.forget(None if data == FLUSH_ALL else data.decode())
                    self.heard_at = now
                elif kind == "pong":
                    self.heard_at = now
            if now - pinged_at >= PING_SECONDS:
                pubsub.ping()
                pinged_at = now
            if self.subscribed and now - self.heard_at >= LEASE_SECONDS:
                raise ConnectionError("no answer from Redis within the lease")


_local = LocalCache()
_listener: Listener | None = None
_listener_pid: int | None = None
_listener_lock = threading.Lock()


def _live_listener() -> Listener:
    """This process's listener, started on first use (after a fork too: threads do not
    survive one, so gunicorn's workers each start their own)."""
    global _listener, _listener_pid
    pid = os.getpid()
    if _listener_pid != pid or _listener is None or not _listener.is_alive():
        with _listener_lock:
            if _listener_pid != pid or _listener is None or not _listener.is_alive():
                if _listener_pid != pid:
                    _local.forget()
                _listener = Listener(_local)
                _listener_pid = pid
                _listener.start()
                atexit.register(_listener.stop)  # an exiting process has lost nothing
    return _listener


def _after_fork_in_child() -> None:
    """A forked child (gunicorn's workers with ``--preload``, Celery's prefork pool) keeps no
    entry and no lock of its parent: a lock held by a parent's thread at the fork would never
    be released in the child, and the parent's listener thread does not exist there."""
    global _listener, _listener_pid, _listener_lock
    _local._lock = threading.Lock()
    _local.forget()
    _listener, _listener_pid, _listener_lock = None, None, threading.Lock()
    _touched.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def local_forget(prefix: str | None = None) -> None:
    """Drop a prefix (everything with None) from this process's LRU only."""
    _local.forget(prefix)


def api_key_cache_get(prefix: str) -> dict | None:
    now = time.monotonic()
    listening = _live_listener().alive(now)
    if listening:
        entry = _local.get(prefix, now)
        if entry is not None:
            return entry
    generation = _local.generation
    raw = _redis().get(_cache_key(prefix))
    if raw is None:
        return None
    entry = orjson.loads(raw)
    if listening:
        _local.put(prefix, entry, _lapses_at(entry, now), generation)
    return entry


def _lapses_at(entry: dict, now: float) -> float:
    """When a local entry lapses: ``LOCAL_SECONDS`` from now, never after the key expires (the
    expiry is checked on every request, but the key's row is then re-read sooner)."""
    lapses = now + LOCAL_SECONDS
    if entry.get("expires_at") is not None:
        lapses = min(lapses, now + max(0.0, entry["expires_at"] - time.time()))
    return lapses


def api_key_cache_put(key, digest: str) -> None:
    """Remember a verified key; never past its expiry, never longer than the configured TTL."""
    ttl = settings.API_KEY_CACHE_SECONDS
    if key.expires_at is not None:
        ttl = min(ttl, int((key.expires_at - timezone.now()).total_seconds()))
    if ttl <= 0:
        return
    entry = {
        "id": key.pk,
        "public_id": key.public_id,
        "workspace_id": key.workspace_id,
        "role": key.role,
        "environment": key.environment,
        "name": key.name,
        "expires_at": key.expires_at.timestamp() if key.expires_at else None,
        "digest": digest,
        "digest_key_id": keys.digest_key_id(),
    }
    generation = _local.generation
    _redis().set(_cache_key(key.prefix), orjson.dumps(entry), ex=ttl)
    if not _unchanged(key):
        # A change committed after the caller read the key (bcrypt is slow) and may have been
        # announced before the SET above: take the entry back. A change committing after this
        # read is announced after it, so its DELETE follows the SET.
        _redis().delete(_cache_key(key.prefix))
        return
    now = time.monotonic()
    if _live_listener().alive(now):
        _local.put(key.prefix, entry, _lapses_at(entry, now), generation)


def _unchanged(key) -> bool:
    """True while the key's row still says what the entry says: not revoked, same expiry and
    role, its workspace not deleted (read after the entry was stored)."""
    return ApiKey.objects.filter(
        pk=key.pk,
        revoked_at__isnull=True,
        expires_at=key.expires_at,
        role=key.role,
        workspace__deleted_at__isnull=True,
    ).exists()


def api_key_cache_matches(entry: dict, *, environment: str, digest: str) -> bool:
    """True when ``entry`` vouches for a presented secret with this digest; False sends the
    caller to the database (never to a refusal)."""
    return (
        entry.get("environment") == environment
        and entry.get("digest_key_id") == keys.digest_key_id()
        and hmac.compare_digest(entry.get("digest", ""), digest)
    )


def _announce(prefix: str) -> None:
    """Delete the shared entry, then tell every process to drop its own (one MULTI)."""
    local_forget(prefix)
    pipe = _redis().pipeline(transaction=True)
    pipe.delete(_cache_key(prefix))
    pipe.publish(channel(), prefix.encode())
    pipe.execute()


def api_key_cache_forget(key) -> None:
    """Forget the key everywhere once the surrounding transaction commits (and now, if there
    is none); this process's own entry is dropped at once too, so a request here does not
    use it while the change commits."""
    local_forget(key.prefix)
    prefix = key.prefix
    transaction.on_commit(lambda: _announce(prefix))


@functools.cache
def _key_fields() -> tuple:
    """(attname, field) of ApiKey's concrete fields, in the order its constructor takes them."""
    return tuple((field.attname, field) for field in ApiKey._meta.concrete_fields)


_NOT_GIVEN = object()


def api_key_from_entry(prefix: str, entry: dict):
    """The key an entry vouches for, as an unsaved ApiKey: the entry's values, and each other
    field's default — what ``ApiKey(pk=…, public_id=…, …)`` makes, built the way ``from_db``
    builds rows (every field by position), about 40 % less CPU than the keyword form; this is
    on every request's path. tests/workspaces/test_api_key_from_entry.py compares the two;
    test_api_key_from_entry_fields.py fails when ApiKey's fields change (a new field would get
    its default here, a renamed one would lose the entry's value), to be decided again."""
    expires_at = entry["expires_at"]
    given = {
        "id": entry["id"],
        "public_id": entry["public_id"],
        "workspace_id": entry["workspace_id"],
        "role": entry["role"],
        "environment": entry["environment"],
        "name": entry["name"],
        "prefix": prefix,
        "expires_at": dt.datetime.fromtimestamp(expires_at, tz=dt.UTC) if expires_at else None,
    }
    values = []
    for attname, field in _key_fields():
        value = given.get(attname, _NOT_GIVEN)
        values.append(field.get_default() if value is _NOT_GIVEN else value)
    return ApiKey(*values)


def api_key_touch_allowed(key_id: int) -> bool:
    """True at most once a minute per key across all processes: the caller then writes
    ``last_used_at``. Each process asks Redis at most once a minute per key, so the common
    case costs no round trip."""
    now = time.monotonic()
    if now - _touched.get(key_id, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
        return False
    _touched[key_id] = now
    return bool(_redis().set(touch_claim_key(key_id), b"1", nx=True, ex=int(TOUCH_INTERVAL)))
