"""Reads of data-subject requests and the suppression list, and the per-process suppression
matcher ingestion asks before it stores an event."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F, QuerySet

from privacy.models import DataSubjectRequest, RequestStatus, RequestType, Suppression
from privacy.requests import matching, work
from tracklayer.exceptions import ConflictError, NotFoundError

# How long a process trusts its copy of a workspace's suppression list: the same as
# ingestion's runtime cache (destinations.ingestion.runtime.TTL). A change made in this
# process is seen at once (``suppressed_matcher_forget``); other processes see it within TTL.
TTL = 5.0
# The cache's bounds: as many workspaces as ingestion's runtime keeps
# (destinations.ingestion.runtime.MAX_WORKSPACES), and at most this many suppressions in all
# (~100 bytes each in a frozenset: about 100 MB).
MAX_WORKSPACES = 10_000
MAX_HASHES = 1_000_000


def dsr_list(*, workspace, status: str | None = None, type: str | None = None) -> QuerySet:
    rows = DataSubjectRequest.objects.filter(workspace=workspace).order_by("-created_at", "-pk")
    if status:
        rows = rows.filter(status=status)
    if type:
        rows = rows.filter(type=type)
    return rows


def dsr_get(*, workspace, public_id: str) -> DataSubjectRequest:
    request = DataSubjectRequest.objects.filter(workspace=workspace, public_id=public_id).first()
    if request is None:
        raise NotFoundError("No such data-subject request in this workspace.", field="id")
    return request


def _destination_names(workspace) -> dict[int, dict]:
    # Privacy sits below destinations (import layers): read the control plane's destination
    # table by name, as the region's work reads the event store's.
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT id, public_id, type, name FROM destinations_destination "
            "WHERE workspace_id = %s",
            [workspace.pk],
        )
        return {pk: {"id": pid, "type": kind, "name": name} for pk, pid, kind, name in cursor}


def dsr_export(*, workspace, public_id: str) -> dict:
    """A completed access request's export, read now from the workspace's region (nothing of
    it is kept in the control plane)."""
    request = dsr_get(workspace=workspace, public_id=public_id)
    if request.type != RequestType.ACCESS:
        raise ConflictError("Only an access request has an export.", field="id")
    if request.status != RequestStatus.COMPLETED:
        error = ConflictError("The request has not completed yet.", field="id")
        error.code = "not_completed"
        raise error
    data = work.export(workspace, request.public_id, _destination_names(workspace))
    return {
        "id": request.public_id,
        "workspace": workspace.public_id,
        "region": workspace.region,
        "subjects": request.subjects,
        "counts": request.counts,
        **data,
    }


def suppression_list(*, workspace) -> QuerySet:
    return Suppression.objects.filter(workspace=workspace).order_by("-created_at", "-pk")


# --- The suppression matcher ----------------------------------------------------------------


@dataclass
class SuppressedMatcher:
    """``matcher(row)`` → the (kind, keyed hash) of the first suppressed identifier of an
    event row as ingestion prepared it (``envelope.prepare(...).row``), or None."""

    key: bytes | None
    hashes: frozenset[tuple[str, str]]
    loaded_at: float = field(default_factory=time.monotonic)

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def __call__(self, row: dict) -> tuple[str, str] | None:
        if not self.hashes or self.key is None:
            return None
        for pair in matching.event_keyed_hashes(self.key, row):
            if pair in self.hashes:
                return pair
        return None


class _MatcherCache:
    """The one per-process cache of suppression matchers: workspace id → matcher, fresh for
    ``TTL`` seconds, least recently used first out past ``max_entries`` workspaces or past
    ``max_hashes`` suppressions summed over them (a list of a million subjects weighs what a
    million small ones do). The entry just put is never the one evicted, so a workspace with a
    huge list is still answered from memory while it is the one in use. As ingestion's runtime
    (destinations/ingestion/runtime.py, ADR 0013): a dictionary under a lock, no Redis."""

    def __init__(self, max_entries: int, max_hashes: int) -> None:
        self.max_entries = max_entries
        self.max_hashes = max_hashes
        self._entries: OrderedDict[int, SuppressedMatcher] = OrderedDict()
        self._hashes = 0
        self._lock = threading.Lock()

    def get(self, workspace_id: int, now: float) -> SuppressedMatcher | None:
        with self._lock:
            matcher = self._entries.get(workspace_id)
            if matcher is None or now - matcher.loaded_at >= TTL:
                return None
            self._entries.move_to_end(workspace_id)
            return matcher

    def put(self, workspace_id: int, matcher: SuppressedMatcher) -> None:
        with self._lock:
            self._pop(workspace_id)
            self._entries[workspace_id] = matcher
            self._hashes += len(matcher.hashes)
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or self._hashes > self.max_hashes
            ):
                self._pop(next(iter(self._entries)))

    def forget(self, workspace_id: int | None = None) -> None:
        with self._lock:
            if workspace_id is None:
                self._entries.clear()
                self._hashes = 0
            else:
                self._pop(workspace_id)

    def _pop(self, workspace_id: int) -> None:
        matcher = self._entries.pop(workspace_id, None)
        if matcher is not None:
            self._hashes -= len(matcher.hashes)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def hashes(self) -> int:
        return self._hashes


_matchers = _MatcherCache(MAX_WORKSPACES, MAX_HASHES)


def suppressed_matcher(
    workspace, *, clock: Callable[[], float] = time.monotonic
) -> SuppressedMatcher:
    """The workspace's suppression matcher, cached in this process for ``TTL`` seconds
    (``_MatcherCache``). A workspace without suppressions costs one query per TTL and no
    hashing per event. ``clock`` is for tests, which step past the TTL without waiting."""
    now = clock()
    cached = _matchers.get(workspace.pk, now)
    if cached is not None:
        return cached
    pairs = frozenset(
        Suppression.objects.filter(workspace=workspace).values_list("kind", "keyed_hash")
    )
    key = matching.subject_key(workspace) if pairs else None
    matcher = SuppressedMatcher(key, pairs, loaded_at=now)
    _matchers.put(workspace.pk, matcher)
    return matcher


def suppressed_matcher_forget(workspace=None) -> None:
    _matchers.forget(None if workspace is None else workspace.pk)


def suppressed_count(*, workspace, pair: tuple[str, str], events: int = 1) -> None:
    """Count events dropped for a suppression (one UPDATE; never per-event rows)."""
    kind, keyed_hash = pair
    Suppression.objects.filter(workspace=workspace, kind=kind, keyed_hash=keyed_hash).update(
        dropped=F("dropped") + events
    )
