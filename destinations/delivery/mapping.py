"""What a platform receives: a claimed delivery turned into the adapters' ``OutgoingEvent`` —
the destination's name and property mappings, Segment's e-commerce fields, click ids, and
only the identifiers the consent decision allows. No I/O."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from destinations.adapters import OutgoingEvent
from destinations.models import Destination


@dataclass(slots=True)
class ClaimedEvent:
    message_id: str
    type: str
    name: str
    anonymous_id: str
    timestamp: datetime
    properties: dict
    context: dict
    identifiers: dict
    consent: dict


@dataclass(slots=True)
class Claimed:
    """A locked due delivery with what sending it needs (read in one query, not as models:
    a batch is a thousand of them)."""

    pk: int
    event_id: int
    attempts: int
    event: ClaimedEvent
    operational: tuple[str | None, str] | None


def event_token(event_type: str, name: str) -> str:
    """How filters and name mappings name an event: a track event by its name, the others as
    ``$page``, ``$screen``, ``$identify`` …"""
    return name if event_type == "track" else f"${event_type}"


CLICK_ID_KEYS = ("fbc", "fbp", "ttclid", "ttp", "gclid", "wbraid", "gbraid")


def _path(data: dict, dotted: str):
    node = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def map_properties(properties: dict, mapping: dict) -> dict:
    """The platform's commerce fields from Segment's e-commerce spec, then the destination's
    own mapping (target → "properties.path") on top."""
    data: dict = {}
    for key in ("value", "revenue", "total"):
        if isinstance(properties.get(key), int | float) and not isinstance(properties[key], bool):
            data["value"] = float(properties[key])
            break
    if isinstance(properties.get("currency"), str):
        data["currency"] = properties["currency"].upper()
    if properties.get("order_id") is not None:
        data["order_id"] = str(properties["order_id"])
    products = properties.get("products")
    if isinstance(products, list):
        contents = []
        for product in products:
            if not isinstance(product, dict):
                continue
            item_id = product.get("product_id") or product.get("sku") or product.get("id")
            if item_id is None:
                continue
            item = {"id": str(item_id), "quantity": product.get("quantity") or 1}
            if isinstance(product.get("price"), int | float):
                item["item_price"] = float(product["price"])
            if product.get("name"):
                item["name"] = str(product["name"])
            contents.append(item)
        if contents:
            data["contents"] = contents
            data["content_ids"] = [item["id"] for item in contents]
    elif properties.get("product_id") is not None:
        data["content_ids"] = [str(properties["product_id"])]
    root = {"properties": properties}
    for target, source in (mapping or {}).items():
        value = _path(root, source) if isinstance(source, str) else None
        if value is not None:
            data[target] = value
    return data


def _query(url: str, memo: dict | None) -> dict[str, list[str]]:
    """A page URL's query parameters (read only: shared by the events of that page). ``memo``
    is the caller's, per batch: a page URL is personal data (click ids, whatever a shop puts
    in its query strings), so no process-wide cache keeps it (docs/privacy-pii.md "Caches")."""
    if memo is None:
        return parse_qs(urlsplit(url).query)
    query = memo.get(url)
    if query is None:
        query = memo[url] = parse_qs(urlsplit(url).query)
    return query


def _click_ids(event: ClaimedEvent, memo: dict | None = None) -> dict:
    found = {}
    for source in (event.properties, event.context):
        for key in CLICK_ID_KEYS:
            if isinstance(source.get(key), str) and key not in found:
                found[key] = source[key]
    page = event.context.get("page") if isinstance(event.context.get("page"), dict) else {}
    query = _query(str(page.get("url") or ""), memo)
    if "fbc" not in found and query.get("fbclid"):
        # Meta's documented fbc format: fb.<subdomain index>.<creation ms>.<fbclid>
        created = int(event.timestamp.timestamp() * 1000)
        found["fbc"] = f"fb.1.{created}.{query['fbclid'][0]}"
    for key in ("ttclid", "gclid"):
        if key not in found and query.get(key):
            found[key] = query[key][0]
    return found


def outgoing_event(
    delivery: Claimed,
    destination: Destination,
    operational: tuple[str | None, str] | None,
    *,
    anonymized: bool,
    spec: str,
    decision: dict | None = None,
    memo: dict | None = None,
) -> OutgoingEvent:
    """``memo``: the caller's dict for one batch (page query strings parsed once per batch,
    then dropped with it)."""
    event = delivery.event
    token = event_token(event.type, event.name)
    ids = dict(event.identifiers.get(spec, {})) if not anonymized else {}
    external_id = ids.pop("external_id", "")
    page = event.context.get("page") if isinstance(event.context.get("page"), dict) else {}
    event_id = event.properties.get("event_id")
    return OutgoingEvent(
        delivery_id=delivery.pk,
        event_id=str(event_id) if event_id else event.message_id,
        message_id=event.message_id,
        event_name=destination.event_mapping.get(token, event.name or event.type),
        event_type=event.type,
        timestamp=event.timestamp,
        anonymized=anonymized,
        user_data=ids,
        external_id=external_id,
        anonymous_id="" if anonymized else event.anonymous_id,
        ip=None if anonymized or operational is None else operational[0],
        user_agent="" if anonymized or operational is None else operational[1],
        click_ids={} if anonymized else _click_ids(event, memo),
        page_url=str(page.get("url") or ""),
        referrer=str(page.get("referrer") or ""),
        custom_data=map_properties(event.properties, destination.property_mapping),
        properties=event.properties,
        consent={**event.consent, "decision": decision or {}},
        action_source="app" if isinstance(event.context.get("app"), dict) else "website",
    )
