"""What the dashboard shows of retention: the windows and the last purge with its counts."""

from dataclasses import dataclass
from datetime import datetime

from destinations.ingestion.runtime import ingestion_settings_get

STORES = ("events", "operational", "message_ids", "deliveries", "attempts")


@dataclass(frozen=True, slots=True)
class RetentionOverview:
    events_days: int  # events, and with them the debugger's data
    operational_days: int  # IP address and user agent
    delivery_days: int  # finished deliveries, their attempts, dead letters
    dedup_days: int  # de-duplication keys
    last_purge_at: datetime | None
    last_purge_counts: dict[str, int]  # store -> rows the last purge deleted
    pending_counts: dict[str, int]  # deleted by a run that stopped before its audit entry


def retention_overview(*, workspace) -> RetentionOverview:
    current = ingestion_settings_get(workspace=workspace)
    last = current.last_purge if isinstance(current.last_purge, dict) else {}
    counts = last.get("counts") if isinstance(last.get("counts"), dict) else {}
    pending = current.purge_pending if isinstance(current.purge_pending, dict) else {}
    return RetentionOverview(
        events_days=current.events_retention_days,
        operational_days=current.operational_retention_days,
        delivery_days=current.delivery_retention_days,
        dedup_days=current.dedup_window_days,
        last_purge_at=current.last_purge_at,
        last_purge_counts={store: int(counts.get(store, 0)) for store in STORES},
        pending_counts={store: int(pending[store]) for store in STORES if pending.get(store)},
    )
