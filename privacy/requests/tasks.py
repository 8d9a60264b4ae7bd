"""Celery tasks of data-subject requests: the work runs on the workspace's region queue
(``tracklayer.regions.queue_for``), so a region's rows are handled by that region's workers.
Late acknowledgement (settings): a task lost with its worker is delivered again and
``dsr_run`` carries the request on from where it stopped."""

from celery import shared_task

from tracklayer.regions import queue_for

MOVING_RETRY_SECONDS = 60


@shared_task(name="privacy.requests.dsr_run")
def dsr_run_task(request_id: str) -> str:
    from privacy.models import DataSubjectRequest, RequestStatus
    from privacy.requests import services

    status = services.dsr_run(request_id=request_id)
    request = DataSubjectRequest.objects.select_related("workspace").get(public_id=request_id)
    if status == RequestStatus.PENDING:  # the workspace is moving region: try again later
        countdown = MOVING_RETRY_SECONDS
    else:  # a delete whose forwarding failed somewhere: send there again later
        countdown = services.forwarding_retry_due(request)
    if countdown is not None:
        dsr_run_task.apply_async(
            args=[request_id], queue=queue_for(request.workspace.region), countdown=countdown
        )
    return status


@shared_task(name="privacy.requests.dsr_access_expire")
def dsr_access_expire_task() -> int:
    """Daily (beat): access requests' working data forgotten after their export period."""
    from privacy.requests import services

    return services.dsr_access_expire()


def dsr_enqueue(request) -> None:
    dsr_run_task.apply_async(args=[request.public_id], queue=queue_for(request.workspace.region))
