"""The readiness probe checks the control database and every region's database, and says which
one fails by its alias — never by an address, a database name or a password."""

import socket

import pytest
from django.db import connections

from tracklayer.regions import data_aliases

PASSWORD = "probe-must-not-tell-this"


@pytest.fixture
def unreachable_region(transactional_db):
    """``region_eu`` pointed at a local port nothing listens on, with a telltale password;
    put back (and its broken connection dropped) after the test. A transactional test, so no
    test transaction holds the connection that is replaced."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = connections["region_eu"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(port), PASSWORD=PASSWORD)
    yield connection.settings_dict
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


@pytest.mark.django_db
def test_readyz_checks_the_control_database_and_every_regions(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert set(checks) == {"database", "broker", *data_aliases()}
    assert {"region_us", "region_eu"} <= set(checks)
    assert all(check["ok"] for check in checks.values())


def test_readyz_is_503_and_names_the_region_whose_database_is_down(client, unreachable_region):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["region_eu"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["region_us"]["ok"] is True
    assert body["checks"]["database"]["ok"] is True
    text = response.content.decode()
    for secret in (PASSWORD, unreachable_region["PORT"], unreachable_region["NAME"]):
        assert secret not in text
