"""The privacy app's Celery tasks, found by ``app.autodiscover_tasks()``."""

from privacy.requests.tasks import dsr_access_expire_task, dsr_run_task

__all__ = ["dsr_access_expire_task", "dsr_run_task"]
