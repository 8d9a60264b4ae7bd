"""Minute figures: what happened to a workspace's events and deliveries, minute by minute
(docs/monitoring.md "Figures"). Read by the Overview, the destinations page and the anomaly
detectors (``destinations.metrics.selectors``); written by ingestion (one statement per group
commit) and the delivery engine (one per claimed batch) through
``destinations.metrics.writer``.

A figure is one ``MinuteFigure`` row per (workspace, minute, kind, subject); writes add to it.
The kinds and their subjects:

- ``events.received``  — events read from a request (subject: the API key's public id);
  requests refused whole (rate limit, size, a region move) are not read and not counted;
- ``events.accepted``  — stored (subject: the event name, at most 200 characters; "" for an
  identify, group or alias call);
- ``events.rejected``  — refused (subject: the first error's code, e.g. ``invalid_timestamp``,
  ``tracking_plan:unplanned_event``);
- ``events.suppressed`` — dropped for a suppressed subject (subject "");
- ``events.duplicate`` — acknowledged, not stored again (subject "");
- ``delivery.delivered`` — events a platform took (subject: the destination's public id);
- ``delivery.failed``  — event tries that did not deliver, whether retried, refused for good,
  or refused before sending (a precheck): a failure with a reason (subject: destination);
- ``delivery.dead``    — events dead-lettered (subject: destination), and
  ``delivery.dead_reason`` with subject ``"<destination>|<reason code>"`` (``DEAD_REASONS``);
- ``delivery.blocked`` — events the consent firewall blocked (subject: destination);
- ``delivery.latency_ms`` — requests to the platform (subject: destination): ``value`` the sum
  of their durations in ms, ``count`` how many, ``buckets`` a histogram over
  ``LATENCY_EDGES_MS`` (bucket i holds durations ≤ edge i and above edge i−1; the last bucket
  holds those above the last edge), from which ``latency_p95`` reads the 95th percentile.
"""

EVENTS_RECEIVED = "events.received"
EVENTS_ACCEPTED = "events.accepted"
EVENTS_REJECTED = "events.rejected"
EVENTS_SUPPRESSED = "events.suppressed"
EVENTS_DUPLICATE = "events.duplicate"
DELIVERY_DELIVERED = "delivery.delivered"
DELIVERY_FAILED = "delivery.failed"
DELIVERY_DEAD = "delivery.dead"
DELIVERY_DEAD_REASON = "delivery.dead_reason"
DELIVERY_BLOCKED = "delivery.blocked"
DELIVERY_LATENCY = "delivery.latency_ms"

EVENT_KINDS = (
    EVENTS_RECEIVED,
    EVENTS_ACCEPTED,
    EVENTS_REJECTED,
    EVENTS_SUPPRESSED,
    EVENTS_DUPLICATE,
)
DELIVERY_KINDS = (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_DEAD,
    DELIVERY_DEAD_REASON,
    DELIVERY_BLOCKED,
    DELIVERY_LATENCY,
)
KINDS = EVENT_KINDS + DELIVERY_KINDS

# Why a delivery became a dead letter (``delivery.dead_reason``'s subject after the "|").
DEAD_UNSENDABLE = "unsendable"  # refused before sending: the adapter's precheck
DEAD_REFUSED = "refused"  # the platform refused it for good
DEAD_EXHAUSTED = "retries_exhausted"  # transient failures until max_attempts
DEAD_REASONS = (DEAD_UNSENDABLE, DEAD_REFUSED, DEAD_EXHAUSTED)

# Upper edges (ms) of the latency histogram's buckets; one more bucket holds the rest.
LATENCY_EDGES_MS = (
    10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750,
    1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000, 30000,
)  # fmt: skip
LATENCY_BUCKETS = len(LATENCY_EDGES_MS) + 1

SUBJECT_MAX = 200  # an event name's length in a subject (Event.name's)

# Rejected events kept for the debugger: at most this many per workspace per minute; beyond
# it a flood is only counted (``events.rejected``).
REJECTED_KEPT_PER_MINUTE = 100
REJECTED_ERRORS_KEPT = 10
