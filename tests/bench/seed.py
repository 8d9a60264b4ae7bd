"""Fast seeding of a region's event store for the benches (retention, requests, residency):
events of ~600 bytes made by PostgreSQL itself (``INSERT … SELECT … generate_series``) and, for
each, its operational row and de-duplication key, a delivery for every tenth event and one
attempt per delivery — the shape ingestion and delivery leave behind."""

import sys

SEED_CHUNK = 100_000

EVENT_COLUMNS = (
    "INSERT INTO destinations_event (workspace_id, message_id, type, name, anonymous_id,"
    " user_id_hash, group_id_hash, previous_id_hash, timestamp, received_at, properties, traits,"
    " context, integrations, identifiers, consent, validation, status, source, fanout_pending)"
)
PROPERTIES = (
    " jsonb_build_object('order_id', 'o-' || n, 'total', n %% 997 + 0.5,"
    "   'currency', 'EUR', 'products', jsonb_build_array(jsonb_build_object("
    "   'sku', 'sku-' || (n %% 300), 'price', 19.9, 'quantity', 1))),"
)
# From traits on: ``identifiers`` is the parameter ``%(identifiers)s`` unless replaced.
EVENT_TAIL = (
    " '{}', jsonb_build_object('library', jsonb_build_object('name', 'analytics.js',"
    "   'version', '5.2.0'), 'page', jsonb_build_object('url',"
    "   'https://shop.example/checkout/' || n, 'referrer', 'https://search.example/')),"
    " '{}', %(identifiers)s::jsonb,"
    ' \'{"gpc": false, "consentMode": {"ad_storage": "granted"}}\','
    ' \'{"hashed": ["traits.email"], "removed": [], "warnings": []}\','
    " 'ok', 'native', false"
)
GENERATED_IDENTIFIERS = (
    "jsonb_build_object('meta', jsonb_build_object('em', md5('e' || n) || md5('m' || n)))"
)


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def seed_events(cursor, workspace_id: int, *, count: int, age: str = "1 hour", offset: int = 0):
    """``count`` events received ``age`` ago (message ids ``msg-<offset…>``), in chunks."""
    for start in range(offset, offset + count, SEED_CHUNK):
        stop = min(start + SEED_CHUNK, offset + count)
        cursor.execute(
            EVENT_COLUMNS  # noqa: S608 - constants; values are parameters
            + " SELECT %(ws)s, 'msg-' || n, 'track', 'Order Completed', 'anon-' || (n %% 50000),"
            " md5('user' || n) || md5('u' || n), '', '', now() - %(age)s::interval,"
            " now() - %(age)s::interval,"
            + PROPERTIES
            + EVENT_TAIL.replace("%(identifiers)s::jsonb", GENERATED_IDENTIFIERS)
            + " FROM generate_series(%(start)s, %(stop)s - 1) n",
            {"ws": workspace_id, "start": start, "stop": stop, "age": age},
        )
        progress(f"seeded {stop - offset:,} of {count:,} events ({age} old)")


def seed_children(cursor, workspace_id: int, *, age: str = "1 hour") -> None:
    """The operational rows, de-duplication keys, deliveries (every tenth event) and attempts
    of the workspace's events received ``age`` ago or earlier (so a second call for older
    events leaves the first call's alone)."""
    where = "workspace_id = %s AND received_at < now() - %s::interval + interval '1 minute'"
    params = [workspace_id, age]
    cursor.execute(
        "INSERT INTO destinations_eventoperational (event_id, workspace_id, ip, user_agent,"  # noqa: S608 - constants
        " received_at) SELECT id, workspace_id, ('203.0.113.' || (id %% 250))::inet,"
        " 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15', received_at"
        f" FROM destinations_event WHERE {where}",
        params,
    )
    cursor.execute(
        "INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)"  # noqa: S608 - constants
        f" SELECT workspace_id, message_id, received_at FROM destinations_event WHERE {where}",
        params,
    )
    cursor.execute(
        "INSERT INTO destinations_delivery (workspace_id, destination_id, event_id, status,"  # noqa: S608 - constants
        " attempts, next_attempt_at, decision, last_error, dead_reason, created_at,"
        " updated_at) SELECT workspace_id, 1, id, 'delivered', 1, received_at,"
        ' \'{"action": "deliver", "reasons": ["consented"]}\', \'\', \'\', received_at,'
        f" received_at FROM destinations_event WHERE {where} AND id %% 10 = 0",
        params,
    )
    cursor.execute(
        "INSERT INTO destinations_deliveryattempt (delivery_id, destination_id, request_id,"
        " started_at, latency_ms, status_code, outcome, error) SELECT id, destination_id,"
        " gen_random_uuid(), created_at, 120, 200, 'delivered', '' FROM"
        " destinations_delivery WHERE workspace_id = %s AND created_at < now() - %s::interval"
        " + interval '1 minute'",
        params,
    )
