"""Every adapter's ``identifiers`` declaration is true (destinations/adapters/base.py).

The compliance inventory shows auditors what each destination receives about a person, hashed
or not, from ``Adapter.identifiers`` (docs/evidence-center.md). Here each registered adapter
builds a real request from a maximal event — every identifier its ``privacy.pii`` spec can
produce, the external and anonymous ids, IP, user agent, every click id — and the JSON body
is walked:

1. what it sends about the person is declared (sent ⊆ declared), and no value of the person
   shows up anywhere else in the request;
2. what it declares, it sends (declared ⊆ sent: the declaration cannot go stale);
3. what it declares hashed is 64 lowercase hex digits (SHA-256), one or a list of them;
4. an anonymized event sends none of it.

``PERSON_DATA`` says where each platform's documented body holds person data
(docs/destinations-meta-tiktok.md, docs/destinations-ga4-webhook.md); a new adapter fails
here until it is described.
"""

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from itertools import chain

import pytest

from destinations.adapters import ADAPTERS
from destinations.delivery.mapping import CLICK_ID_KEYS
from privacy import pii
from tests.destinations.factories import CONFIGS, SECRETS
from tests.destinations.helpers import anonymized, outgoing_order, sha256_hex

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# Where person data sits in each adapter's body: (path of the object, name prefix of its keys
# in ``identifiers``, keys of that object that are not person data). Paths go through lists.
PERSON_DATA = {
    # {"data": [{"user_data": {"em", …, "client_ip_address", "fbc", …}}]}
    "meta_capi": [("data.user_data", "", ())],
    # {"data": [{"user": {"email", "phone", "external_id", "ttclid", "ttp", "ip", …}}]}
    "tiktok_events": [("data.user", "", ())],
    # Request-level fields (client_id, user_id, ip_override, user_agent, user_data …); the
    # hashed customer data in user_data is named without its "user_data." prefix.
    "ga4_mp": [("", "", ("events", "consent", "user_data")), ("user_data", "", ())],
    # {"events": [{"identifiers": {…}, "context": {"page", "userAgent", "ip"}}]}
    "webhook": [
        ("events.identifiers", "identifiers", ()),
        ("events.context", "context", ("page",)),
    ],
}
# Click ids the adapters read besides the engine's CLICK_ID_KEYS: GA4's tag client id.
EXTRA_CLICK_IDS = ("ga_client_id",)
CLICK_ID_VALUES = {
    "fbc": "fb.1.1554763741205.AbCdEfGhIjKlMn",
    "fbp": "fb.1.1558571054389.1098115397",
    "ga_client_id": "1234567890.1700000000",
}

ADAPTER_TYPES = sorted(ADAPTERS)


def maximal_event(adapter):
    """An order carrying every identifier an adapter could be given."""
    user_data = {
        field: pii.hashed(field, sha256_hex(f"{field} of the person"), spec=adapter.spec)
        for field in pii.FIELDS
    }
    click_ids = {
        key: CLICK_ID_VALUES.get(key, f"{key}-Cj0KCQiA-person-click")
        for key in (*CLICK_ID_KEYS, *EXTRA_CLICK_IDS)
    }
    return outgoing_order(
        1,
        now=NOW,
        event_name="Purchase",
        user_data=user_data,
        external_id=sha256_hex("user-42"),
        anonymous_id="anon-5f1c2e7a-person",
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Person/1.0",
        click_ids=click_ids,
        consent={"consent_mode": {"ad_user_data": True, "ad_personalization": True}},
    )


def person_values(event) -> set[str]:
    """Every value of the person the event carries."""
    values = {*event.user_data.values(), *event.click_ids.values()}
    values |= {event.external_id, event.anonymous_id, event.ip or "", event.user_agent}
    return {v for v in values if isinstance(v, str) and v}


def build(adapter, event) -> tuple[list[dict], list]:
    requests = adapter.build(
        config=dict(CONFIGS[adapter.type]),
        secrets=dict(SECRETS[adapter.type]),
        events=[event],
        now=NOW,
    )
    assert requests, f"{adapter.type} built no request for the event"
    return [json.loads(request.body) for request in requests], requests


def leaves(value, path=""):
    """(dotted path, scalar) for every scalar under ``value``; lists are transparent."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, path)
    else:
        yield path, value


def objects_at(value, path: str):
    """The objects at a dotted ``path`` (through lists)."""
    if isinstance(value, list):
        for item in value:
            yield from objects_at(item, path)
        return
    if not path:
        yield value
        return
    head, _, rest = path.partition(".")
    if isinstance(value, dict) and head in value:
        yield from objects_at(value[head], rest)


def person_data(adapter, body: dict) -> list[tuple[str, str, object]]:
    """(name as ``identifiers`` names it, path in the body, value) of each person datum."""
    assert adapter.type in PERSON_DATA, (
        f"Describe in PERSON_DATA where {adapter.type} puts person data in its body"
    )
    found = []
    for where, prefix, skipped in PERSON_DATA[adapter.type]:
        for container in objects_at(body, where):
            assert isinstance(container, dict), f"{where} is not an object"
            for key, item in container.items():
                if key in skipped:
                    continue
                for sub, leaf in leaves(item, str(key)):
                    name = f"{prefix}.{sub}" if prefix else sub
                    found.append((name, f"{where}.{sub}" if where else sub, leaf))
    return found


def declared_name(adapter, name: str) -> tuple[str, bool] | None:
    """The declaration covering ``name`` (itself or an enclosing object), or None."""
    for declared, hashed in adapter.identifiers:
        if name == declared or name.startswith(declared + "."):
            return declared, hashed
    return None


@pytest.fixture(params=ADAPTER_TYPES)
def adapter(request):
    return ADAPTERS[request.param]


def test_every_adapter_declares_names_once_with_a_hashed_flag(adapter):
    names = [name for name, _ in adapter.identifiers]
    assert names, f"{adapter.type} declares no identifiers"
    assert len(names) == len(set(names)), f"{adapter.type} declares a name twice"
    assert all(isinstance(name, str) and name for name in names)
    assert all(type(hashed) is bool for _, hashed in adapter.identifiers)


def test_what_is_sent_about_a_person_is_declared(adapter):
    event = maximal_event(adapter)
    bodies, requests = build(adapter, event)
    sent = [datum for body in bodies for datum in person_data(adapter, body)]
    undeclared = sorted({name for name, _, _ in sent if declared_name(adapter, name) is None})
    assert not undeclared, f"{adapter.type} sends undeclared identifiers: {undeclared}"

    # No value of the person anywhere else: not in another field, the URL or a header.
    allowed = {path for _, path, _ in sent}
    values = person_values(event)
    for body in bodies:
        for path, leaf in leaves(body):
            if isinstance(leaf, str) and any(value in leaf for value in values):
                assert path in allowed, f"{adapter.type} sends person data in {path}"
    for request in requests:
        for text in (request.url, *request.headers.values()):
            assert not any(value in text for value in values), (
                f"{adapter.type} puts person data in its URL or headers"
            )


def test_what_is_declared_is_sent(adapter):
    bodies, _ = build(adapter, maximal_event(adapter))
    sent = {name for body in bodies for name, _, _ in person_data(adapter, body)}
    stale = [
        declared
        for declared, _ in adapter.identifiers
        if not any(name == declared or name.startswith(declared + ".") for name in sent)
    ]
    assert not stale, f"{adapter.type} declares identifiers it never sends: {stale}"


def test_what_is_declared_hashed_is_sha256(adapter):
    bodies, _ = build(adapter, maximal_event(adapter))
    checked = 0
    for body in bodies:
        for name, path, leaf in person_data(adapter, body):
            declaration = declared_name(adapter, name)
            if declaration and declaration[1]:
                checked += 1
                assert isinstance(leaf, str) and SHA256_HEX.fullmatch(leaf), (
                    f"{adapter.type} declares {declaration[0]} hashed, but {path} is not a "
                    "SHA-256 hex digest"
                )
    assert checked or not any(hashed for _, hashed in adapter.identifiers)


def anonymized_sends_nothing(adapter, event, full):
    bodies, requests = build(adapter, event)
    sent = [datum for body in bodies for datum in person_data(adapter, body)]
    # GA4 requires a client_id on every request; an anonymized event's is derived from its own
    # message id, so it links to nobody: it must differ from any the person was sent under.
    linked_to_nobody = {"ga4_mp": {"client_id"}}.get(adapter.type, set())
    names = sorted({name for name, _, _ in sent if name not in linked_to_nobody})
    assert not names, f"{adapter.type} sends identifiers of an anonymized event: {names}"
    if linked_to_nobody:
        person_ids = set()
        for variant in (
            full,
            replace(full, click_ids={}),  # derived from the anonymous id
            replace(full, click_ids={}, anonymous_id=""),  # from the external id
        ):
            person_ids |= {
                leaf
                for body in build(adapter, variant)[0]
                for name, _, leaf in person_data(adapter, body)
                if name in linked_to_nobody
            }
        for _name, path, leaf in sent:
            assert leaf not in person_ids, f"{adapter.type} links {path} of an anonymized event"
    values = person_values(full)
    for body, request in zip(bodies, requests, strict=True):
        texts = chain(
            (leaf for _, leaf in leaves(body) if isinstance(leaf, str)),
            [request.url, *request.headers.values()],
        )
        leaked = [value for text in texts for value in values if value in text]
        assert not leaked, f"{adapter.type} sends person data of an anonymized event: {leaked}"


def test_an_anonymized_event_sends_no_identifier(adapter):
    """As the engine hands it over (destinations/delivery/mapping.py clears the user agent
    too; docs/privacy-consent.md: no hashed PII, user id, IP, user agent or click ids)."""
    full = maximal_event(adapter)
    event = anonymized(full, user_agent="")
    if adapter.type == "meta_capi":
        # Meta accepts no event without customer information: precheck refuses it, and the
        # engine dead-letters it instead of sending it.
        assert adapter.precheck(event, NOW)
    anonymized_sends_nothing(adapter, event, full)


def test_an_adapter_honours_the_anonymized_flag_itself(adapter):
    """Defence in depth: handed an event marked anonymized that still carries every
    identifier and its user agent (the engine clears both: destinations/delivery/mapping.py),
    an adapter sends none of them."""
    full = maximal_event(adapter)
    anonymized_sends_nothing(adapter, replace(full, anonymized=True), full)


# Landing pages carry click ids in their query (the engine reads fbclid, ttclid and gclid from
# there: destinations/delivery/mapping.py); an anonymized event must not send them in a URL.
URL_CLICK_IDS = {"fbclid": "IwAR0fbclidOfThePerson", "gclid": "Cj0KCQgclidOfThePerson"}
URL_CLICK_IDS["ttclid"] = "E.C.P.ttclidOfThePerson"
PAGE_WITH_CLICK_IDS = "https://shop.example/landing?" + "&".join(
    f"{key}={value}" for key, value in URL_CLICK_IDS.items()
)


def test_an_anonymized_event_sends_no_click_id_in_its_page_url(adapter):
    full = maximal_event(adapter)
    event = anonymized(
        full, user_agent="", page_url=PAGE_WITH_CLICK_IDS, referrer=PAGE_WITH_CLICK_IDS
    )
    if adapter.type == "meta_capi":
        # Meta accepts no event without customer information: refused, the engine never sends it.
        assert adapter.precheck(event, NOW)
        return
    bodies, _ = build(adapter, event)
    for body in bodies:
        for path, leaf in leaves(body):
            if isinstance(leaf, str):
                assert not any(value in leaf for value in URL_CLICK_IDS.values()), (
                    f"{adapter.type} sends a click id of an anonymized event in {path}"
                )
