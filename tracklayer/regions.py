"""Regions: which PostgreSQL database holds each region's data plane (docs/regions.md).

The control plane (users, workspaces, keys, destinations' configuration, the audit log) is the
``default`` database, ``DATABASE_URL``. Every region has a data plane of its own — events,
de-duplication keys, deliveries, attempts, tracking-plan violations — in a database named by
``REGION_DATABASES`` (``us=postgres://…,eu=postgres://…``). Outside production a region left
out is derived from ``DATABASE_URL`` on the same server (``<name>_us``, ``<name>_eu``), which
``make run`` and ``make test`` create and migrate; production refuses to start without one.

This module is the core's part: the regions there are, their Django database aliases and
their settings. Which workspace lives where, and the router that sends every data-plane query
to its region, are ``workspaces.regions``.
"""

from dataclasses import dataclass

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True, slots=True)
class RegionInfo:
    code: str
    label: str  # "European Union": what the dashboard and the API say
    # Each data-plane database numbers its rows from its own block (block × 10^13), so an id is
    # unique across regions and a move between them keeps every id. 900 blocks stay below 2^53
    # (ids remain exact in JavaScript); a shard of a region takes a block of its own.
    id_block: int

    @property
    def id_start(self) -> int:
        return self.id_block * ID_BLOCK_SIZE


ID_BLOCK_SIZE = 10**13
REGIONS: dict[str, RegionInfo] = {
    "us": RegionInfo("us", "United States", 1),
    "eu": RegionInfo("eu", "European Union", 2),
}
ALIAS_PREFIX = "region_"


def alias_for(region: str) -> str:
    """The Django database alias of a region's data plane (``region_eu``)."""
    if region not in REGIONS:
        raise ImproperlyConfigured(f"unknown region {region!r}")
    return ALIAS_PREFIX + region


def queue_for(region: str) -> str:
    """The Celery queue of a region's data-plane work (``region.eu``): its own worker pool."""
    if region not in REGIONS:
        raise ImproperlyConfigured(f"unknown region {region!r}")
    return f"region.{region}"


def region_of_alias(alias: str) -> str | None:
    """The region whose data plane ``alias`` is; None for the control plane."""
    if alias.startswith(ALIAS_PREFIX) and alias[len(ALIAS_PREFIX) :] in REGIONS:
        return alias[len(ALIAS_PREFIX) :]
    return None


def data_aliases() -> list[str]:
    """Every region's database alias, in the regions' order."""
    return [alias_for(code) for code in REGIONS]


def parse_region_databases(value: str) -> dict[str, str]:
    """``us=postgres://…,eu=postgres://…`` → {"us": url, "eu": url}; refuses what it cannot
    read, naming the part."""
    urls: dict[str, str] = {}
    for part in (item.strip() for item in value.split(",")):
        if not part:
            continue
        code, sep, url = part.partition("=")
        code, url = code.strip().lower(), url.strip()
        if not sep or not url:
            raise ImproperlyConfigured(f"REGION_DATABASES: {part!r} is not region=postgres://…")
        if code not in REGIONS:
            raise ImproperlyConfigured(
                f"REGION_DATABASES: unknown region {code!r} (regions: {', '.join(REGIONS)})"
            )
        if code in urls:
            raise ImproperlyConfigured(f"REGION_DATABASES: region {code!r} is named twice")
        urls[code] = url
    return urls


def region_database_settings(
    value: str, *, default: dict, production: bool, conn_max_age: int
) -> dict[str, dict]:
    """The ``DATABASES`` entries of the regions. ``default`` is the control plane's entry
    (parsed ``DATABASE_URL``): outside production a region without a URL gets a database of
    that server named ``<name>_<region>``."""
    urls = parse_region_databases(value)
    missing = [code for code in REGIONS if code not in urls]
    if production and missing:
        raise ImproperlyConfigured(
            "REGION_DATABASES has no database for region(s) "
            f"{', '.join(missing)}: in production every region needs its own "
            "(REGION_DATABASES=us=postgres://…,eu=postgres://…)"
        )
    databases = {}
    for code in REGIONS:
        if code in urls:
            entry = dj_database_url.parse(
                urls[code], conn_max_age=conn_max_age, conn_health_checks=True
            )
            if entry["ENGINE"] != "django.db.backends.postgresql":
                raise ImproperlyConfigured(f"REGION_DATABASES: region {code!r} must be postgres://")
        else:
            entry = {**default, "NAME": f"{default['NAME']}_{code}"}
            entry.pop("TEST", None)
        entry["ATOMIC_REQUESTS"] = False  # data-plane writes open their own transactions
        databases[alias_for(code)] = entry
    return databases
