"""The regions' databases in the settings (tracklayer/regions.py): ``REGION_DATABASES`` read or
refused naming the part at fault, derived from ``DATABASE_URL`` outside production, and
required in production — also by the settings module itself, loaded as an operator would."""

import json

import dj_database_url
import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.tracklayer.test_deploy_settings import PRODUCTION, run_in_fresh_process
from tracklayer.regions import parse_region_databases, region_database_settings

US = "postgres://tl:pw@us-db.internal:5432/tracklayer_us"
EU = "postgres://tl:pw@eu-db.internal:5432/tracklayer_eu"
CONTROL = dj_database_url.parse("postgres://tl:pw@control.internal:5432/tracklayer")


def regions(value: str, *, production: bool) -> dict:
    return region_database_settings(
        value, default={**CONTROL, "TEST": {"NAME": "x"}}, production=production, conn_max_age=60
    )


# --- REGION_DATABASES ----------------------------------------------------------------------------


def test_region_databases_are_read_region_by_region():
    assert parse_region_databases(f" US={US} , eu={EU},") == {"us": US, "eu": EU}
    assert parse_region_databases("") == {}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (f"us={US},mars=postgres://h/db", "unknown region 'mars'"),
        (f"us={US},us={EU}", "region 'us' is named twice"),
        (f"us={US},{EU}", f"'{EU}' is not region=postgres://"),
        ("us=,eu=" + EU, "'us=' is not region=postgres://"),
        ("us", "'us' is not region=postgres://"),
    ],
)
def test_region_databases_refuse_what_they_cannot_read_naming_the_part(value, named):
    with pytest.raises(ImproperlyConfigured, match="REGION_DATABASES") as caught:
        parse_region_databases(value)

    assert named in str(caught.value)


def test_a_region_database_must_be_postgresql():
    with pytest.raises(ImproperlyConfigured, match="region 'eu' must be postgres://"):
        regions(f"us={US},eu=sqlite:///tmp/eu.db", production=False)


# --- outside production and in it ---------------------------------------------------------------


def test_outside_production_a_region_left_out_is_derived_from_the_control_database():
    databases = regions(f"eu={EU}", production=False)

    assert set(databases) == {"region_us", "region_eu"}
    us = databases["region_us"]
    assert us["NAME"] == "tracklayer_us"
    assert (us["HOST"], us["PORT"], us["USER"]) == ("control.internal", 5432, "tl")
    assert "TEST" not in us  # the test run names its own test databases
    assert (databases["region_eu"]["HOST"], databases["region_eu"]["NAME"]) == (
        "eu-db.internal",
        "tracklayer_eu",
    )
    assert not any(entry["ATOMIC_REQUESTS"] for entry in databases.values())


def test_outside_production_both_regions_are_derived_when_none_is_named():
    databases = regions("", production=False)

    assert {alias: entry["NAME"] for alias, entry in databases.items()} == {
        "region_us": "tracklayer_us",
        "region_eu": "tracklayer_eu",
    }


@pytest.mark.parametrize(("value", "missing"), [("", "us, eu"), (f"us={US}", "eu")])
def test_production_refuses_a_region_without_a_database(value, missing):
    with pytest.raises(ImproperlyConfigured) as caught:
        regions(value, production=True)

    assert f"no database for region(s) {missing}" in str(caught.value)


def test_production_takes_each_regions_own_database():
    databases = regions(f"us={US},eu={EU}", production=True)

    assert {alias: entry["HOST"] for alias, entry in databases.items()} == {
        "region_us": "us-db.internal",
        "region_eu": "eu-db.internal",
    }


# --- the settings module, in a fresh process -----------------------------------------------------

SHOW_DATABASES = (
    "import json, tracklayer.settings as s; "
    "print(json.dumps({alias: [db['HOST'], db['NAME']] for alias, db in s.DATABASES.items()}))"
)


def test_production_settings_refuse_to_load_without_region_databases():
    result = run_in_fresh_process(SHOW_DATABASES, **{**PRODUCTION, "REGION_DATABASES": ""})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "REGION_DATABASES has no database for region(s) us, eu" in result.stderr


def test_production_settings_load_with_a_database_per_region():
    result = run_in_fresh_process(
        SHOW_DATABASES,
        **{
            **PRODUCTION,
            "DATABASE_URL": "postgres://tl:pw@control.internal:5432/tracklayer",
            "REGION_DATABASES": f"us={US},eu={EU}",
        },
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "default": ["control.internal", "tracklayer"],
        "region_us": ["us-db.internal", "tracklayer_us"],
        "region_eu": ["eu-db.internal", "tracklayer_eu"],
    }
