"""What ingestion needs to know about a workspace — its ingestion settings, consent settings
and compiled tracking plan — cached in this process for a few seconds. This is the one cache
of them: there is no second one behind it, so another process sees a change at most ``TTL``
seconds after its commit (docs/ingestion.md, docs/adr: per-process caches).

Every request would otherwise read three tables before doing any work. Changes made through
this process are seen at once (``runtime_forget``, which the services that change these
settings call now and again at commit). When an entry expires the tracking plan is loaded and
compiled again only if its (id, version) changed: one indexed query, no recompilation.

The runtime also carries the workspace row, and with it where its data plane lives
(``region``) and whether a move between regions is under way (``moving_to``: ingestion then
answers 503 ``workspace_moving``). Another process learns that a move started up to ``TTL``
seconds late, so a move marks the workspace and waits out ``TTL`` (plus a margin for a write
already under way) before it copies anything: from then on no process stores events for it.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from destinations.ingestion.envelope import IngestionConfig
from destinations.models import IngestionSettings, TrackingPlan
from destinations.tracking_plans.schema import CompiledPlan, tracking_plan_compile
from privacy.selectors import consent_config_get
from workspaces.models import Workspace

TTL = 5.0  # seconds; a region move waits this out before copying (see above)
MAX_WORKSPACES = 10_000  # a bound on memory; past it the cache starts over


@dataclass(frozen=True, slots=True)
class WorkspaceRuntime:
    workspace: Workspace
    config: IngestionConfig
    settings: IngestionSettings
    plan: CompiledPlan | None
    plan_key: tuple[int, int] | None = None  # (plan row id, version); None: no plan

    @property
    def moving(self) -> bool:
        """A move to another region is under way: nothing may be stored."""
        return bool(self.workspace.moving_to)


_cache: dict[int, tuple[float, WorkspaceRuntime]] = {}
_lock = threading.Lock()


def ingestion_settings_get(*, workspace) -> IngestionSettings:
    return IngestionSettings.objects.filter(workspace=workspace).first() or IngestionSettings(
        workspace=workspace
    )


def _plan(workspace, previous: WorkspaceRuntime | None):
    """The compiled plan and its key; the previous compilation when the plan is unchanged."""
    key = TrackingPlan.objects.filter(workspace=workspace).values_list("pk", "version").first()
    if previous is not None and previous.plan_key == key:
        return previous.plan, key
    if key is None:
        return None, None
    plan = TrackingPlan.objects.filter(pk=key[0]).first()
    if plan is None:  # deleted between the two queries
        return None, None
    return tracking_plan_compile(plan), (plan.pk, plan.version)


def workspace_runtime(
    *,
    workspace=None,
    workspace_id: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> WorkspaceRuntime:
    """The runtime of a workspace, given as the row or (on the hot path, where loading the
    row would cost a query per request) by id. ``clock`` is for tests, which step past the
    TTL without waiting for it."""
    workspace_id = workspace.pk if workspace is not None else workspace_id
    now = clock()
    cached = _cache.get(workspace_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    if workspace is None:
        workspace = Workspace.objects.get(pk=workspace_id)
    settings = ingestion_settings_get(workspace=workspace)
    plan, plan_key = _plan(workspace, cached[1] if cached is not None else None)
    runtime = WorkspaceRuntime(
        workspace=workspace,
        config=IngestionConfig(
            consent=consent_config_get(workspace=workspace),
            max_event_bytes=settings.max_event_bytes,
            default_region=settings.default_region or None,
            pii_paths=tuple(settings.pii_paths),
        ),
        settings=settings,
        plan=plan,
        plan_key=plan_key,
    )
    with _lock:
        if len(_cache) >= MAX_WORKSPACES:
            _cache.clear()
        _cache[workspace.pk] = (now + TTL, runtime)
    return runtime


def tracking_plan_compiled(
    *, workspace, clock: Callable[[], float] = time.monotonic
) -> CompiledPlan | None:
    """The workspace's tracking plan, compiled, or None without one (from the runtime)."""
    return workspace_runtime(workspace=workspace, clock=clock).plan


def runtime_forget(workspace_id: int | None = None) -> None:
    """Drop a workspace's entry (every entry without an id): the next request reads again."""
    with _lock:
        if workspace_id is None:
            _cache.clear()
        else:
            _cache.pop(workspace_id, None)
