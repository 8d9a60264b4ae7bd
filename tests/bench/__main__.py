"""``python -m tests.bench`` (``make bench``): fresh database, migrate, run, print, drop.

``python -m tests.bench ingestion`` runs only the ingestion figures (10-14), ``delivery`` only
20-24, ``privacy`` only 30-39, ``audit`` only 1-9, ``residency`` only 40-42 (a region move of
1M events; ``BENCH_MOVE_EVENTS`` sets another count), ``retention`` only 50-52 (the retention
purge of 200,000 expired events; ``BENCH_PURGE_EVENTS`` sets another count), ``requests``
only 60 (erase one subject among 1M events; ``BENCH_REQUEST_EVENTS`` sets another count),
``anomalies`` only 70-72 (the detectors' run over 1,000 workspaces' minute figures;
``BENCH_ANOMALY_WORKSPACES`` sets another count), ``soak`` only 15-16 (the web workers' memory
and a ten-minute soak at the single-event load; ``BENCH_SOAK_SECONDS`` sets another length; not
part of ``all``);
``python -m tests.bench ingestion --sweep`` compares web servers instead (an A/B in alternating
rounds: gunicorn gthread against granian, ingest_server.AB),
``python -m tests.bench ingestion --batches`` measures only batches of 100 beside COPY, and
``python -m tests.bench ingestion --profile [single|batch|bare]`` shows where the time goes.
"""

import argparse
import sys
from urllib.parse import urlsplit

from tests.bench import environment


def _use_only_redis_database_13() -> None:
    """``cache.clear()`` empties a whole Redis database: make sure it is the bench's."""
    from django.conf import settings

    database = urlsplit(settings.CACHES["default"]["LOCATION"]).path.lstrip("/")
    if database != environment.REDIS_DATABASE:
        raise SystemExit(f"The benchmarks must use Redis database 13, not {database!r}")


def _residency() -> None:
    """Figures 40-42: the region move (after the others: it leaves 1M rows in a region)."""
    from tests.bench import residency
    from tests.bench.report import table

    rows = residency.rows()
    print()
    print("\n".join(residency.DESCRIPTIONS))
    print()
    print(table(rows))


def _retention() -> None:
    """Figures 50-52: the retention purge (tests/bench/retention.py)."""
    from tests.bench import retention
    from tests.bench.report import table

    rows = retention.rows()
    print()
    print("\n".join(retention.DESCRIPTIONS))
    print()
    print(table(rows))


def _requests() -> None:
    """Figure 60: a data-subject delete among 1M events (tests/bench/privacy_requests.py)."""
    from tests.bench import privacy_requests
    from tests.bench.report import table

    rows = privacy_requests.rows()
    print()
    print("\n".join(privacy_requests.DESCRIPTIONS))
    print()
    print(table(rows))


def _anomalies() -> None:
    """Figures 70-72: the anomaly detectors' run (tests/bench/anomalies.py)."""
    from tests.bench import anomalies
    from tests.bench.report import table

    rows = anomalies.rows()
    print()
    print("\n".join(anomalies.DESCRIPTIONS))
    print()
    print(table(rows))


def _soak() -> None:
    """Figures 15-16: RSS per web worker and the soak (tests/bench/soak.py); fails the run when
    memory grew, a request failed or an acknowledged event is missing."""
    from tests.bench import soak

    if not soak.report().passed:
        raise SystemExit("the soak failed: see figure 16")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument(
        "part",
        nargs="?",
        choices=(
            "all",
            "audit",
            "ingestion",
            "delivery",
            "privacy",
            "residency",
            "retention",
            "requests",
            "anomalies",
            "soak",
        ),
        default="all",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="ingestion: A/B of the web server configurations in ingest_server.AB",
    )
    parser.add_argument(
        "--batches",
        action="store_true",
        help="ingestion: only batches of 100 beside PostgreSQL COPY of the same documents",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="single",
        choices=("single", "batch", "bare"),
        help="ingestion: py-spy on the server under load, time per request by stage",
    )
    arguments = parser.parse_args(argv)
    if (
        arguments.sweep or arguments.profile or arguments.batches
    ) and arguments.part != "ingestion":
        parser.error("--sweep, --batches and --profile go with the ingestion part")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = _arguments(argv)
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

        # These import models: only once Django is set up.
        from tests.bench import figures, ingest_profile, ingestion

        if arguments.sweep:
            ingestion.sweep()
        elif arguments.batches:
            ingestion.batch_run()
        elif arguments.profile:
            ingest_profile.profile(arguments.profile)
        elif arguments.part == "residency":
            _residency()
        elif arguments.part == "retention":
            _retention()
        elif arguments.part == "requests":
            _requests()
        elif arguments.part == "anomalies":
            _anomalies()
        elif arguments.part == "soak":
            _soak()
        else:
            figures.run(
                audit=arguments.part in ("all", "audit"),
                ingest=arguments.part in ("all", "ingestion"),
                privacy=arguments.part in ("all", "privacy"),
                delivery=arguments.part in ("all", "delivery"),
            )
            if arguments.part == "all":
                _retention()
                _requests()
                _anomalies()
                _residency()
    finally:
        connections.close_all()
        if cache_checked:
            cache.clear()
        environment.drop_database(database_url)
        print(f"... dropped database {environment.DATABASE_NAME}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
