"""The suppression matcher's per-process cache (privacy.requests.selectors._MatcherCache): one
cache, fresh for TTL seconds, least recently used out past its bound on workspaces and on the
suppressions it holds in all; the newest entry is never the one evicted."""

import pytest

from privacy.models import Suppression
from privacy.requests import selectors
from privacy.requests.selectors import TTL, suppressed_matcher, suppressed_matcher_forget
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def bounded(monkeypatch):
    """The process's cache, with small bounds (the same object ingestion uses)."""
    cache = selectors._matchers
    monkeypatch.setattr(cache, "max_entries", 3)
    monkeypatch.setattr(cache, "max_hashes", 4)
    return cache


def suppress(workspace, count: int) -> None:
    Suppression.objects.bulk_create(
        Suppression(workspace=workspace, kind="email", keyed_hash=f"{n:064x}", created_by="t")
        for n in range(count)
    )


def cached_ids(cache) -> list[int]:
    return list(cache._entries)


def test_past_its_workspaces_the_least_recently_used_goes(admin_user, bounded, clock):
    first, second, third, fourth = (
        WorkspaceFactory(name=f"W{n}", owner=admin_user) for n in range(4)
    )
    for workspace in (first, second, third):
        suppressed_matcher(workspace, clock=clock)
    suppressed_matcher(first, clock=clock)  # used again: now the most recent

    suppressed_matcher(fourth, clock=clock)

    assert len(bounded) == 3
    assert cached_ids(bounded) == [third.pk, first.pk, fourth.pk]  # the second went


def test_past_its_suppressions_the_least_recently_used_goes(admin_user, bounded, clock):
    small, large, huge = (WorkspaceFactory(name=f"S{n}", owner=admin_user) for n in range(3))
    suppress(small, 2)
    suppress(large, 3)
    suppress(huge, 9)

    assert suppressed_matcher(small, clock=clock)
    assert suppressed_matcher(large, clock=clock)  # 5 > 4: the small list goes
    assert cached_ids(bounded) == [large.pk] and bounded.hashes == 3
    assert len(suppressed_matcher(huge, clock=clock).hashes) == 9

    # a list above the whole bound is still kept while it is the one in use
    assert cached_ids(bounded) == [huge.pk] and bounded.hashes == 9
    assert suppressed_matcher(huge, clock=clock) is selectors._matchers.get(huge.pk, clock.now)


def test_a_cached_matcher_is_trusted_for_ttl_then_read_again(
    admin_user, clock, django_assert_num_queries
):
    workspace = WorkspaceFactory(name="T", owner=admin_user)
    first = suppressed_matcher(workspace, clock=clock)
    suppress(workspace, 1)

    clock.now += TTL - 0.1
    with django_assert_num_queries(0):
        assert suppressed_matcher(workspace, clock=clock) is first
    clock.now += 0.2
    again = suppressed_matcher(workspace, clock=clock)

    assert not first and again and again is not first


def test_forgetting_drops_one_workspace_or_all(admin_user, clock):
    one, two = (WorkspaceFactory(name=f"F{n}", owner=admin_user) for n in range(2))
    suppress(one, 2)
    for workspace in (one, two):
        suppressed_matcher(workspace, clock=clock)

    suppressed_matcher_forget(one)
    assert cached_ids(selectors._matchers) == [two.pk]
    assert selectors._matchers.hashes == 0
    suppressed_matcher_forget()
    assert len(selectors._matchers) == 0
