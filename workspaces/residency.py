"""Where a workspace's data is stored, in plain words: the one text the dashboard and the API
both show (docs/regions.md).

It says what the code does and nothing more: the data plane (everything derived from events)
is in the workspace's region's database, the control plane in TrackLayer's central one. It makes
no claim about backups, processing or where the people who operate TrackLayer are.
"""

from tracklayer.exceptions import ConflictError
from tracklayer.regions import REGIONS
from workspaces.models import Workspace

# The data-plane models (workspaces/regions.py: ``data_plane = True``), said for people.
STORED_IN_REGION = (
    "events",
    "de-duplication keys",
    "IP addresses and user agents",
    "deliveries and their attempts",
    "tracking-plan violations",
    "the events debugger's data, rejected events included",
    "minute figures (the Overview's counts)",
    "data-subject requests' working data",
)
STORED_CENTRALLY = (
    "account data",
    "workspace settings",
    "API keys",
    "destination configuration and secrets",
    "consent settings",
    "tracking plans",
    "the audit log (it holds no event data)",
    "anomalies and incidents (figures and names, no event data)",
)
PINNED = (
    "The region is chosen when the workspace is created and cannot be edited. TrackLayer's "
    "staff can move a workspace to another region with a verified move "
    "(tracklayer workspace move-region)."
)


class RegionPinnedError(ConflictError):
    """An edit that would change a workspace's region: only a verified move may."""

    code = "region_pinned"

    def __init__(self):
        super().__init__(
            "A workspace's region is pinned: no edit can change it. TrackLayer's staff move a "
            "workspace to another region with a verified move (tracklayer workspace move-region).",
            field="region",
        )


def _region(code: str) -> dict:
    return {"region": code, "label": REGIONS[code].label}


def workspace_data_residency(*, workspace: Workspace) -> dict:
    """What is stored in the workspace's region and what centrally; while a move copies, where
    to and that ingestion is paused."""
    moving_to = _region(workspace.moving_to) if workspace.moving_to else None
    return {
        **_region(workspace.region),
        "stored_in_region": list(STORED_IN_REGION),
        "stored_centrally": list(STORED_CENTRALLY),
        "moving_to": moving_to,
        "notice": (
            f"Moving to {moving_to['label']}: ingestion is paused (SDKs retry)."
            if moving_to
            else None
        ),
        "pinned": PINNED,
    }
