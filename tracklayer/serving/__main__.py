"""``python -m tracklayer.serving [--no-collectstatic]``: what ``make serve`` runs.

Checks the environment (naming anything missing), collects the static files into
``STATIC_ROOT`` (skip it where an image build did that already) and replaces this process
with gunicorn, so that signals (SIGTERM from the orchestrator) reach gunicorn's arbiter.
"""

import argparse
import os
import sys

from django.core.management import execute_from_command_line

from tracklayer.serving import environment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tracklayer.serving", description=__doc__)
    parser.add_argument(
        "--no-collectstatic",
        action="store_true",
        help="serve the static files already in STATIC_ROOT",
    )
    arguments = parser.parse_args(argv)
    environment.check()
    os.environ.setdefault("TRACKLAYER_ENV", "production")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracklayer.settings")
    if not arguments.no_collectstatic:
        execute_from_command_line(["manage.py", "collectstatic", "--noinput", "--verbosity", "0"])
    command = [sys.executable, "-m", "gunicorn", "--config", "python:tracklayer.serving.gunicorn"]
    os.execv(sys.executable, command)  # noqa: S606


if __name__ == "__main__":
    main()
