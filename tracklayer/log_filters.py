"""Logging filters named in ``settings.LOGGING``."""

import logging


class QuietTasks(logging.Filter):
    """Drops the routine lines (below WARNING) Celery writes about the given tasks: beat's
    "Sending due task", the worker's "received" and "succeeded". For a task beat runs every
    few seconds they would bury everything else in ``make run``'s console. A retry, a failure
    or an error is WARNING or above and always passes.
    """

    def __init__(self, tasks: list[str]):
        super().__init__()
        self.tasks = tuple(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        message = record.getMessage()
        return not any(task in message for task in self.tasks)
