"""Reads of a workspace's tracking plan: the plan, the drift report, the export."""

from destinations.models import TrackingPlan, TrackingPlanViolation


def tracking_plan_get(*, workspace) -> TrackingPlan | None:
    return TrackingPlan.objects.filter(workspace=workspace).select_related("updated_by").first()


def tracking_plan_violations_list(*, workspace, limit: int = 200) -> list[TrackingPlanViolation]:
    """The drift report: the most recently seen violations first (from the workspace's
    region, where ingestion counts them)."""
    return list(
        TrackingPlanViolation.objects.for_workspace(workspace).order_by(
            "-last_seen", "event_name", "path", "code"
        )[:limit]
    )


def tracking_plan_export(*, workspace) -> dict:
    """The plan as a document — also what ``tracking_plan_import`` takes. Without a plan,
    an empty one with the defaults."""
    plan = tracking_plan_get(workspace=workspace)
    if plan is None:
        return {"mode": "allow", "unplanned": "allow", "events": {}}
    return {
        "mode": plan.mode,
        "unplanned": plan.unplanned,
        "events": {name: plan.schemas[name] for name in sorted(plan.schemas)},
    }
