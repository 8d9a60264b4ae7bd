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


def test_a_batch_queues_its_successor_mid_batch_and_again_once_recorded(monkeypatch):
    """``on_more`` queues the next batch while this one records; once recorded it is queued
    again (de-duplicated in Redis while the first is still waiting; if that one already ran,
    it could not claim the rows this batch held, and they are due now). A broker that
    refuses the mid-batch queueing costs nothing but a log line."""
    from destinations.delivery.engine import DeliverResult

    queued: list[tuple[int, str]] = []

    def enqueue(destination_id, *, region=None):
        if not queued and refuse_first:
            queued.append((destination_id, "refused"))
            raise ConnectionError("broker down")
        queued.append((destination_id, region))

    def deliver(*, destination_id, on_more):
        on_more("eu")
        return DeliverResult(claimed=1000, delivered=1000, more=True, region="eu")

    monkeypatch.setattr(scheduling, "destination_deliver_enqueue", enqueue)
    monkeypatch.setattr(scheduling, "destination_deliver", deliver)

    refuse_first = False
    scheduling.destination_deliver_queued(7)
    assert queued == [(7, "eu"), (7, "eu")]

    queued.clear()
    refuse_first = True
    scheduling.destination_deliver_queued(7)
    assert queued == [(7, "refused"), (7, "eu")]
