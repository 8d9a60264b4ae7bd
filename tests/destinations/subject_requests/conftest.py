"""Fixtures of the forwarding tests: a workspace whose four destinations point at the local
platform servers (GA4 configured for user deletion with the stand-in's service account), and
Ada's and Grace's events delivered to all of them by the real engine."""

import base64
import json
from dataclasses import dataclass
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from destinations.local_platforms import ga4 as ga4_stand_in
from destinations.models import Destination
from tests.destinations.factories import SECRETS, DestinationFactory
from tests.destinations.helpers import CONSENTED, local, run_engine, send_batch

ADA_EMAIL = "Ada.Lovelace@Example.com"
ADA_USER = "ada-1"
ADA_ANON = "anon-ada-42"
ADA = {"user_id": ADA_USER, "email": ADA_EMAIL, "anonymous_id": ADA_ANON}
PROPERTY_ID = "123456789"
# The GA4 event name of Grace's only event: what tells her entries apart at the stand-in.
GRACE_EVENT = "grace_viewed"


@dataclass
class Shop:
    webhook: Destination
    ga4: Destination
    meta: Destination
    tiktok: Destination

    def by_type(self) -> dict[str, Destination]:
        return {d.type: d for d in (self.webhook, self.ga4, self.meta, self.tiktok)}


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@cache
def service_account() -> tuple[dict, dict]:
    """A test service account: its JSON key file (as Google's console downloads it) and its
    public key as a JWK (as Google publishes it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = {
        "type": "service_account",
        "project_id": "tracklayer-tests",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": "deletions@tracklayer-tests.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "alg": "RS256", "n": _b64(numbers.n), "e": _b64(numbers.e)}
    return key_file, jwk


def ga4_config(platforms) -> tuple[dict, dict]:
    """A GA4 destination's settings for the stand-in, configured for user deletion (the
    service account registered with the stand-in)."""
    key_file, jwk = service_account()
    ga4_stand_in.register_service_account(key_file["client_email"], jwk)
    config = {**local("ga4_mp", platforms), "property_id": PROPERTY_ID}
    secrets = {**SECRETS["ga4_mp"], "service_account_key": json.dumps(key_file)}
    return config, secrets


@pytest.fixture
def shop(platforms, workspace, token, client) -> Shop:
    config, secrets = ga4_config(platforms)
    made = Shop(
        webhook=DestinationFactory(
            workspace=workspace, type="webhook", config=local("webhook", platforms)
        ),
        ga4=DestinationFactory(workspace=workspace, type="ga4_mp", config=config, secrets=secrets),
        meta=DestinationFactory(
            workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
        ),
        tiktok=DestinationFactory(
            workspace=workspace, type="tiktok_events", config=local("tiktok_events", platforms)
        ),
    )
    context = {**CONSENTED, "traits": {"email": ADA_EMAIL}}
    send_batch(
        client,
        token,
        {
            "type": "track",
            "event": "Signed Up",
            "userId": ADA_USER,
            "messageId": "a-1",
            "context": context,
        },
        {"type": "page", "anonymousId": ADA_ANON, "messageId": "a-2", "context": CONSENTED},
        {
            "type": "track",
            "event": "Grace Viewed",
            "userId": "grace-1",
            "messageId": "g-1",
            "context": {**CONSENTED, "traits": {"email": "grace@example.org"}},
        },
    )
    run_engine()
    return made


def ga4_ids_sent(platforms) -> set[tuple[str, str]]:
    """The client ids and user ids the GA4 stand-in received with Ada's events."""
    ids = set()
    for entry in platforms.received("ga4"):
        if entry.get("_kind") or entry["name"] == GRACE_EVENT:
            continue
        ids.add(("CLIENT_ID", entry["client_id"]))
        if entry.get("user_id"):
            ids.add(("USER_ID", entry["user_id"]))
    return ids


def notices(platforms) -> list[dict]:
    return [item for item in platforms.received("webhook") if item.get("_kind") == "notice"]


def deletions(platforms) -> list[dict]:
    return [item for item in platforms.received("ga4") if item.get("_kind") == "user_deletion"]
