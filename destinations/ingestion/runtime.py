"""What ingestion needs to know about a workspace, cached in this process for a few seconds.

Every request would otherwise read the ingestion settings, consent settings and tracking plan
(three queries) before doing any work. Changes made through this process are seen at once
(``runtime_forget``); other processes see them within ``TTL`` seconds (docs/ingestion.md).
"""

import threading
import time
from dataclasses import dataclass

from destinations.ingestion.envelope import IngestionConfig
from destinations.models import IngestionSettings
from privacy.selectors import consent_config_get
from workspaces.models import Workspace

TTL = 5.0


@dataclass(frozen=True, slots=True)
class WorkspaceRuntime:
    workspace: Workspace
    config: IngestionConfig
    settings: IngestionSettings
    plan: object | None  # destinations.tracking_plans.CompiledPlan


_cache: dict[int, tuple[float, WorkspaceRuntime]] = {}
_lock = threading.Lock()


def _tracking_plan(workspace):
    try:
        from destinations.tracking_plans.services import tracking_plan_compiled
    except ImportError:  # pragma: no cover - the tracking plan module is optional at import
        return None
    return tracking_plan_compiled(workspace=workspace)


def ingestion_settings_get(*, workspace) -> IngestionSettings:
    return IngestionSettings.objects.filter(workspace=workspace).first() or IngestionSettings(
        workspace=workspace
    )


def workspace_runtime(*, workspace=None, workspace_id: int | None = None) -> WorkspaceRuntime:
    """The runtime of a workspace, given as the row or (on the hot path, where loading the
    row would cost a query per request) by id."""
    workspace_id = workspace.pk if workspace is not None else workspace_id
    now = time.monotonic()
    cached = _cache.get(workspace_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    if workspace is None:
        workspace = Workspace.objects.get(pk=workspace_id)
    settings = ingestion_settings_get(workspace=workspace)
    runtime = WorkspaceRuntime(
        workspace=workspace,
        config=IngestionConfig(
            consent=consent_config_get(workspace=workspace),
            max_event_bytes=settings.max_event_bytes,
            default_region=settings.default_region or None,
            pii_paths=tuple(settings.pii_paths),
        ),
        settings=settings,
        plan=_tracking_plan(workspace),
    )
    with _lock:
        _cache[workspace.pk] = (now + TTL, runtime)
    return runtime


def runtime_forget(workspace_id: int | None = None) -> None:
    with _lock:
        if workspace_id is None:
            _cache.clear()
        else:
            _cache.pop(workspace_id, None)
