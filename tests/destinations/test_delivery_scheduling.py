"""Delivery names its Celery tasks instead of importing them (destinations/delivery/scheduling.py),
and beat's schedule stores task names: every name used must be a task that exists, under the
name it had before the reshape (issue 12)."""

from django.conf import settings

from destinations import tasks
from destinations.delivery import scheduling
from tracklayer.celery import app


def test_the_task_names_scheduling_sends_are_registered_tasks():
    app.loader.import_default_modules()

    assert tasks.events_fanout_task.name == scheduling.FANOUT_TASK
    assert tasks.destination_deliver_task.name == scheduling.DELIVER_TASK
    assert tasks.deliveries_sweep.name == scheduling.SWEEP_TASK
    assert {scheduling.FANOUT_TASK, scheduling.DELIVER_TASK, scheduling.SWEEP_TASK} <= set(
        app.tasks
    )


def test_beats_schedule_names_tasks_that_exist():
    app.loader.import_default_modules()
    named = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {
        "destinations.tasks.deliveries_sweep",
        "destinations.tasks.events_purge_expired_all",
    } <= (named)
    assert named <= set(app.tasks)


def test_the_retention_purge_is_one_batched_task_per_workspace():
    app.loader.import_default_modules()

    assert tasks.retention_purge_task.name == "destinations.tasks.retention_purge_task"
    # the one-transaction purge is gone: beat's hourly task queues the batched one
    assert "destinations.tasks.events_purge_expired" not in app.tasks
