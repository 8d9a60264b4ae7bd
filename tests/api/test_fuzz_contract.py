"""The API keeps its published contract under fuzzing: schemathesis, every operation, every
check, against a live server in production mode (DEBUG off).

What runs: ``st run`` (schemathesis's CLI, as a developer would run it) against the schema the
live server publishes at ``/v1/schema``, with ``--checks all`` — no 5xx, every status code and
content type documented, every body matching its schema, schema-valid data accepted and
invalid data refused, auth never ignored — over the examples, coverage, fuzzing and stateful
phases, with a bounded number of cases per operation. Any failure fails this test and is
printed with schemathesis's reproducer (a curl command).

Keys, per operation, exactly as an integration would hold them (``schemathesis.toml`` below):
a write key for ingestion, an audit-role key for ``/v1/audit/*``, an admin key for the rest
(destinations, deliveries, members, events, incidents, anomalies, data-subject requests). The
workspace and keys are made through the real services.

Nothing is excluded. Destructive operations are safe by construction: every key belongs to
the fuzzed workspace, so nothing the fuzzer sends can reach another one (checked at the end
against a second workspace); the API has no operation that revokes or rotates keys, so the
fixture keys survive; deleting a destination only ever deletes the fuzzed workspace's own.

Test sends (``POST /v1/destinations/{id}/test``) reach a local receiver: the fuzzed workspace's
destinations point at the local platform servers (``destinations/local_platforms``), and the
schema handed to schemathesis carries their ids as path parameter examples — values only, the
contract is the one the server publishes. The test asserts the receiver saw them.

Ingestion runs through the group-commit writer, as in production; the workspace also holds a
signed checkpoint and a delivery log (delivered, pending, dead) so that reads and replays answer
real rows, and its admin key never expires (``expires_at: null``).

``object_level_authorization`` (in ``all``) needs several identities from a Web Fuzzing
Commons auth file; cross-workspace reads and writes are covered by the bystander workspace
here and by ``tests/test_isolation.py``, which walks every URL as another workspace.

Figures, on every run: ``schemathesis contract: {"operations", "cases", "failures", …}``.
Deeper runs: ``FUZZ_MAX_EXAMPLES=300 FUZZ_SEED=7``; extra ``st run`` options: ``FUZZ_ST_ARGS``.
"""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.servers.basehttp import WSGIRequestHandler
from django.test import override_settings

from audit.services import audit_checkpoint_sign
from compliance.public_verification import throttle as public_throttle
from compliance.public_verification.services import public_verification_set
from destinations.ingestion import runtime
from destinations.ingestion.store import events_writer_stop
from destinations.local_platforms.server import LocalPlatforms
from destinations.models import Destination, Event
from destinations.routing.services import destination_create
from tests.audit_entries import audit_count, audit_rows
from tests.destinations.factories import DeliveryAttemptFactory, DeliveryFactory
from tests.factories import EventFactory, WorkspaceFactory
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyRole

pytestmark = [pytest.mark.django_db(transaction=True)]

# Cases per operation and phase. 50 keeps the whole run under about a minute on two cores;
# raise it with FUZZ_MAX_EXAMPLES for a deeper run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
ACTOR = SystemActor("fuzz-contract")

CONFIG = """\
# Written by tests/api/test_fuzz_contract.py: which key each operation is called with.
[[operations]]
include-path-regex = "^/v1/audit/"
headers = { Authorization = "Bearer ${TL_FUZZ_AUDIT_KEY}" }

[[operations]]
include-path-regex = "^/v1/audit/(proof/|events)"
headers = { Authorization = "Bearer ${TL_FUZZ_AUDIT_KEY}" }
# Whether an index lies inside the log depends on its size at the time, and a payload is
# canonical JSON (no floats, no lone surrogates at any depth): 400 naming the field.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-tag = "ingestion"
exclude-path-regex = "^/v1/events/"
headers = { Authorization = "Bearer ${TL_FUZZ_WRITE_KEY}" }
# A schema-valid event may still be refused, per event and named (400): JSON Schema cannot say
# "no NUL at any depth", time windows after clock-skew correction, or the workspace's tracking
# plan and limits (destinations/api.py). Refused, never a 5xx; every other check stays.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "413", "429"]

[[operations]]
include-path-regex = "^/v1/(workspace$|whoami|members|events/|destinations|deliveries|incidents)"
headers = { Authorization = "Bearer ${TL_FUZZ_ADMIN_KEY}" }

[[operations]]
include-path-regex = "^/v1/evidence/"
headers = { Authorization = "Bearer ${TL_FUZZ_ADMIN_KEY}" }

[[operations]]
include-path-regex = "^/v1/(anomalies|data_subject_requests)"
headers = { Authorization = "Bearer ${TL_FUZZ_ADMIN_KEY}" }

[[operations]]
include-operation-id = ["data_subject_requests_create"]
headers = { Authorization = "Bearer ${TL_FUZZ_ADMIN_KEY}" }
# The service reads the body field by field: an unknown field is refused (a misspelt
# `subjects` must not pass for no subject), and an identifier's rules (an e-mail's shape, a
# phone's country, a region code) are not JSON Schema's: 400 naming the field.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-operation-id = ["anomalies_list"]
headers = { Authorization = "Bearer ${TL_FUZZ_ADMIN_KEY}" }
# `before` is a page cursor: an id that names no anomaly of this workspace is 400 naming it.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-operation-id = ["destinations_create", "destinations_update"]
headers = { Authorization = "Bearer ${TL_FUZZ_ADMIN_KEY}" }
# Settings are checked against the destination's type and the egress policy (a URL whose name
# resolves to a private address, a pixel id of the wrong shape): 400 naming the field.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"""


def _key(workspace, role, **options):
    _, token = workspace_services.api_key_create(
        workspace=workspace, actor=ACTOR, name=f"fuzz {role}", role=role, **options
    )
    return token


def _destinations(workspace, receiver: str) -> dict[str, Destination]:
    """One destination of each type, all pointed at the local platform servers."""
    made = {}
    for type_, config, secrets in [
        (
            "webhook",
            {"url": f"{receiver}/webhook/hooks/fuzz"},
            {"signing_secret": "whsec_" + "f" * 32},
        ),
        (
            "meta_capi",
            {"pixel_id": "1234567890123456", "api_base_url": f"{receiver}/meta"},
            {"access_token": "EAAG" + "f" * 36},
        ),
        (
            "tiktok_events",
            {"pixel_code": "COQDA8RC77U2TMR44LI0", "api_base_url": f"{receiver}/tiktok"},
            {"access_token": "t" * 40},
        ),
        (
            "ga4_mp",
            {"measurement_id": "G-ABC123XYZ9", "api_base_url": f"{receiver}/ga4"},
            {"api_secret": "g" * 24},
        ),
    ]:
        made[type_] = destination_create(
            workspace=workspace,
            actor=ACTOR,
            type=type_,
            name=f"Fuzz {type_}",
            config=config,
            secrets=secrets,
        )
    return made


def _delivery_log(destination: Destination, event) -> None:
    """A delivery log to read and replay: delivered (with attempts, one failed), pending, and a
    dead letter — the delivery engine's rows as it leaves them."""
    delivered = DeliveryFactory(
        destination=destination, event=event, status="delivered", attempts=2
    )
    DeliveryAttemptFactory(delivery=delivered, status_code=503, outcome="retry", error="HTTP 503")
    DeliveryAttemptFactory(delivery=delivered)
    DeliveryFactory(destination=destination)
    dead = DeliveryFactory(
        destination=destination, status="dead", attempts=10, dead_reason="HTTP 400"
    )
    DeliveryAttemptFactory(delivery=dead, status_code=None, outcome="dead", error="timeout")


def _with_examples(
    schema: dict,
    *,
    destination_ids: list[str],
    message_id: str,
    workspace_id: str,
    entry_hashes: list[str],
) -> dict:
    """The published schema, with real ids as path parameter examples (values, not contract)."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] == "hash":
                    ids = entry_hashes  # public verification: entries of the fuzzed log
                elif parameter["in"] != "path":
                    continue
                elif parameter["name"] == "destination_id":
                    ids = destination_ids
                elif parameter["name"] == "message_id":
                    ids = [message_id]
                elif parameter["name"] == "workspace_id":
                    ids = [workspace_id]  # public verification, turned on below
                else:
                    continue
                parameter["examples"] = {f"id{n}": {"value": v} for n, v in enumerate(ids)}
    return schema


@pytest.fixture
def _group_commit():
    """Ingestion as in production: events written by the group-commit writer (ADR 0008),
    where one refused row once failed other requests' events (issue 11, finding 1)."""
    runtime.runtime_forget()
    with override_settings(EVENTS_GROUP_COMMIT=True):
        yield
    events_writer_stop()
    runtime.runtime_forget()


@override_settings(
    # The fuzzer sends thousands of wrong and missing keys from one address; the throttle of
    # failed attempts is tested on its own (tests/workspaces), here it would answer 429 to all.
    API_KEY_THROTTLE_PER_IP=1_000_000,
    API_KEY_THROTTLE_PER_PREFIX=1_000_000,
)
@pytest.mark.usefixtures("_group_commit")
def test_the_api_keeps_its_contract_under_fuzzing(live_server, tmp_path, capsys, monkeypatch):
    # Django's test server writes a response's head and body apart; with Nagle on, each answer
    # on a kept-alive connection then waits out the client's delayed ACK (~40 ms), which made
    # this run four times slower than the API is.
    monkeypatch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)
    workspace = WorkspaceFactory(name="Fuzzed")
    other = WorkspaceFactory(name="Bystander")
    keys = {
        "TL_FUZZ_WRITE_KEY": _key(workspace, ApiKeyRole.WRITE),
        "TL_FUZZ_AUDIT_KEY": _key(workspace, ApiKeyRole.AUDIT),
        # One that never expires, so /v1/whoami answers the null its schema allows.
        "TL_FUZZ_ADMIN_KEY": _key(workspace, ApiKeyRole.ADMIN, expires_at=None),
    }
    # Public verification on, so its endpoints answer the fuzzed log's checkpoints and proofs
    # (no key: they take none); its rate limit raised like the key throttle above.
    public_verification_set(workspace=workspace, actor=ACTOR, enabled=True)
    monkeypatch.setattr(public_throttle, "BURST", 1_000_000)
    audit_checkpoint_sign(workspace=workspace, actor=ACTOR)  # so the checkpoint answers 200
    event = EventFactory(workspace=workspace)

    with LocalPlatforms() as platforms:
        destinations = _destinations(workspace, platforms.url)
        _delivery_log(destinations["webhook"], event)
        other_destination = destination_create(
            workspace=other,
            actor=ACTOR,
            type="webhook",
            name="Bystander hook",
            config={"url": f"{platforms.url}/webhook/hooks/bystander"},
            secrets={"signing_secret": "whsec_" + "b" * 32},
        )
        other_entries = audit_count(other)
        schema = requests.get(f"{live_server.url}/v1/schema?format=json", timeout=30).json()
        schema = _with_examples(
            schema,
            destination_ids=[d.public_id for d in destinations.values()],
            message_id=event.message_id,
            workspace_id=workspace.public_id,
            entry_hashes=[row.hash_hex for row in audit_rows(workspace)[:3]],
        )
        (tmp_path / "schema.json").write_text(json.dumps(schema))
        (tmp_path / "schemathesis.toml").write_text(CONFIG)
        report = tmp_path / "report.json"

        started = time.monotonic()
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("st")),
                "--config-file",
                str(tmp_path / "schemathesis.toml"),
                "run",
                str(tmp_path / "schema.json"),
                "--url",
                live_server.url,
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                # One worker: Hypothesis describes its strategies with ast.parse, which two
                # threads at once can break on CPython 3.11 ("AST constructor recursion depth
                # mismatch"), failing the run for nothing the API did.
                "--workers",
                "1",
                "--seed",
                os.environ.get("FUZZ_SEED", "20261205"),
                "--request-timeout",
                "20",
                "--report",
                "json",
                "--report-json-path",
                str(report),
                "--output-truncate",
                "false",
                *shlex.split(os.environ.get("FUZZ_ST_ARGS", "")),
            ],
            env={**os.environ, **keys, "NO_COLOR": "1"},
            cwd=tmp_path,  # schemathesis keeps its example database in ./.schemathesis
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        seconds = time.monotonic() - started
        seen = [
            request
            for name in ("webhook", "meta", "tiktok", "ga4")
            for request in platforms.state(name).requests
        ]
        test_sends = len(seen)

    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)
    print(run.stdout)
    print(run.stderr, file=sys.stderr)
    figures = _figures(report, seconds, test_sends)
    # Ingestion reached the writer: the fuzzer's accepted events are stored.
    figures["events_stored"] = Event.objects.for_workspace(workspace).count() - 1
    with capsys.disabled():  # the figures the lead quotes, on every run, passed or not
        print(f"\nschemathesis contract: {json.dumps(figures)}")

    assert run.returncode == 0, f"schemathesis found failures: {figures}"
    assert figures["failures"] == 0 and figures["errors"] == 0
    assert figures["operations"] == figures["operations_selected"]
    assert test_sends > 0, "no test send reached the local receiver"
    assert figures["events_stored"] > 0, "no fuzzed event was accepted"
    # The bystander workspace: untouched, its hook never called.
    assert not [request for request in seen if "bystander" in str(request.get("path"))]
    other_destination.refresh_from_db()
    assert other_destination.deleted_at is None and other_destination.state == "active"
    assert audit_count(other) == other_entries


def _figures(report: Path, seconds: float, test_sends: int) -> dict:
    """What the lead quotes: operations, cases, failures, errors, time, test sends."""
    data = json.loads(report.read_text())
    return {
        "operations": data["operations"]["tested"],
        "operations_selected": data["operations"]["selected"],
        "cases": data["test_cases"]["generated"],
        "failures": data["test_cases"]["unique_failures"],
        "errors": len(data["errors"]),
        "phases": {name: phase["status"] for name, phase in data["phases"].items()},
        "seconds": round(seconds),
        "test_sends_received": test_sends,
        "max_examples": MAX_EXAMPLES,
    }
