"""Settings of the gunicorn server that ``tests/bench/ingestion.py`` measures.

The product's own settings, read from the environment the bench passes (TRACKLAYER_ENV=
production: DEBUG off, group commit on, the production middleware and security settings), with
one change: the URLconf adds a constant endpoint behind the dashboard's middleware (what
that stack costs; the reference is bare Django, tests/bench/bare_django.py).
"""

from tracklayer.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench.server_urls"
