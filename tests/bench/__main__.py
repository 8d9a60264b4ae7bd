"""``python -m tests.bench`` (``make bench``): fresh database, migrate, run, print, drop."""

import sys
from urllib.parse import urlsplit

from tests.bench import environment


def _use_only_redis_database_13() -> None:
    """``cache.clear()`` empties a whole Redis database: make sure it is the bench's."""
    from django.conf import settings

    database = urlsplit(settings.CACHES["default"]["LOCATION"]).path.lstrip("/")
    if database != environment.REDIS_DATABASE:
        raise SystemExit(f"The benchmarks must use Redis database 13, not {database!r}")


def main() -> None:
    # Before anything reads Django's settings: the bench's own database and Redis db.
    database_url = environment.configure()

    import django
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connections

    print(f"... creating database {environment.DATABASE_NAME}", file=sys.stderr, flush=True)
    environment.recreate_database(database_url)
    cache_checked = False
    try:
        django.setup()
        _use_only_redis_database_13()
        cache_checked = True
        cache.clear()
        call_command("migrate", interactive=False, verbosity=0)

        from tests.bench import figures  # imports models: only once Django is set up

        figures.run()
    finally:
        connections.close_all()
        if cache_checked:
            cache.clear()
        environment.drop_database(database_url)
        print(f"... dropped database {environment.DATABASE_NAME}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
