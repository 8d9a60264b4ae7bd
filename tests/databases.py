"""The databases of this test run, told to another process (a Celery worker, gunicorn, a
command run as a subprocess): the control plane's ``DATABASE_URL`` and every region's, in
``REGION_DATABASES``, all naming the test databases, never ``make run``'s."""

from urllib.parse import quote

from django.db import connections

from tracklayer.regions import REGIONS, alias_for


def database_url(alias: str = "default") -> str:
    db = connections[alias].settings_dict
    credentials = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def database_env() -> dict[str, str]:
    """``DATABASE_URL`` and ``REGION_DATABASES`` for a child process of this test run."""
    return {
        "DATABASE_URL": database_url(),
        "REGION_DATABASES": ",".join(f"{code}={database_url(alias_for(code))}" for code in REGIONS),
    }
