"""Seed the demo workspace: three logins (admin, editor, viewer) and a write key. Idempotent.

The demo key is derived from a fixed string so every run prints the same one; it is a
``tl_test_`` key, and the command refuses to run in production unless told ``--force``.
Everything goes through the services, so the demo workspace's audit log shows it all.
"""

import hashlib
import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from destinations.ingestion.services import event_ingest, ingestion_settings_update
from destinations.models import Destination
from destinations.routing.services import destination_create, destination_update
from workspaces import keys, services
from workspaces.actors import SystemActor
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.models import (
    ApiKey,
    ApiKeyEnvironment,
    ApiKeyRole,
    Membership,
    Role,
    User,
    Workspace,
)

DEMO_PASSWORD = "tracklayer-demo"  # noqa: S105 - printed on purpose: a local demo login
DEMO_SLUG = "acme"
DEMO_USERS = [
    ("admin@demo.tracklayer.test", "Ada Admin", Role.ADMIN),
    ("editor@demo.tracklayer.test", "Eddie Editor", Role.EDITOR),
    ("viewer@demo.tracklayer.test", "Vera Viewer", Role.VIEWER),
]
ACTOR = SystemActor("seed_demo")
LOCAL_PLATFORMS_PREFIXES = ("http://127.0.0.1:", "http://localhost:")


def demo_token_parts() -> tuple[str, str]:
    digest = hashlib.sha512(b"tracklayer demo write key").digest()
    chars = "".join(keys.ALPHABET[byte % 32] for byte in digest)
    return chars[: keys.PREFIX_LENGTH], chars[keys.PREFIX_LENGTH :][: keys.SECRET_LENGTH]


DEMO_CONSENT_DE = {
    "consentMode": {
        "ad_storage": "granted",
        "analytics_storage": "granted",
        "ad_user_data": "granted",
        "ad_personalization": "denied",
    },
    "categoryPreferences": {"Advertising": True, "Analytics": True},
}
DEMO_EVENTS = [
    {
        "type": "page",
        "name": "Home",
        "anonymousId": "demo-anon-1",
        "messageId": "demo-page-1",
        "context": {
            "page": {"path": "/", "title": "Acme Store", "url": "https://acme.example/"},
            "ip": "198.51.100.23",
            "userAgent": "Mozilla/5.0 (demo)",
            "consent": DEMO_CONSENT_DE,
            "location": {"country": "DE"},
        },
    },
    {
        "type": "identify",
        "userId": "demo-user-42",
        "anonymousId": "demo-anon-1",
        "messageId": "demo-identify-1",
        "traits": {
            "email": "ada.lovelace@example.com",
            "phone": "030 1234567",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "address": {"city": "Berlin", "postalCode": "10115", "country": "Germany"},
            "plan": "gold",
        },
        "context": {
            "page": {"url": "https://acme.example/account"},
            "ip": "198.51.100.23",
            "userAgent": "Mozilla/5.0 (demo)",
            "consent": DEMO_CONSENT_DE,
            "location": {"country": "DE"},
        },
    },
    {
        "type": "track",
        "event": "Order Completed",
        "userId": "demo-user-42",
        "messageId": "demo-order-1",
        "properties": {"order_id": "A-1001", "value": 59.9, "currency": "EUR"},
        "context": {
            "page": {"url": "https://acme.example/checkout/done?fbclid=IwAR0demo"},
            "ip": "198.51.100.23",
            "userAgent": "Mozilla/5.0 (demo)",
            "consent": DEMO_CONSENT_DE,
            "location": {"country": "DE"},
        },
    },
    {
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "demo-anon-2",
        "messageId": "demo-view-1",
        "properties": {"product_id": "P-7", "price": 19.0},
        "context": {
            "page": {"url": "https://acme.example/products/p-7"},
            "ip": "192.0.2.44",
            "userAgent": "Mozilla/5.0 (demo)",
            "consent": {"gpc": True},
            "location": {"country": "US", "region": "CA"},
        },
    },
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo workspace, its three logins and a demo write key."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the logins as JSON")
        parser.add_argument("--force", action="store_true", help="allow in production")

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION and not options["force"]:
            raise CommandError("seed_demo creates known passwords; use --force in production.")
        demo = self.seed()
        self.seed_destinations()
        self.seed_events(demo["write_key"])
        if options["json"]:
            self.stdout.write(json.dumps(demo))
            return
        self.stdout.write(f"Demo workspace: {demo['workspace']['name']} (/{DEMO_SLUG}/)")
        for login in demo["logins"]:
            self.stdout.write(f"  {login['role']:<7} {login['email']} / {login['password']}")
        self.stdout.write(f"Demo write key: {demo['write_key']}")

    @transaction.atomic
    def seed(self) -> dict:
        workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
        if workspace is None:
            workspace = services.workspace_create(
                actor=ACTOR, name="Acme Store", slug=DEMO_SLUG, region="eu", owner=None
            )
        for email, name, role in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                # The demo admin is also staff, so the Django admin can be tried too.
                staff = role == Role.ADMIN
                user = User.objects.create_user(
                    email=email,
                    password=DEMO_PASSWORD,
                    name=name,
                    is_staff=staff,
                    is_superuser=staff,
                )
            if not Membership.objects.filter(workspace=workspace, user=user).exists():
                services.member_add(workspace=workspace, actor=ACTOR, user=user, role=role)
        # German shop: phone numbers written without +49 are read as German ones.
        ingestion_settings_update(workspace=workspace, actor=ACTOR, values={"default_region": "DE"})
        prefix, secret = demo_token_parts()
        if not ApiKey.objects.filter(prefix=prefix).exists():
            services.api_key_create(
                workspace=workspace,
                actor=ACTOR,
                name="Demo storefront",
                role=ApiKeyRole.WRITE,
                environment=ApiKeyEnvironment.TEST,
                expires_at=None,
                token_parts=(prefix, secret),
            )
        return {
            "workspace": {
                "id": workspace.public_id,
                "name": workspace.name,
                "slug": workspace.slug,
            },
            "logins": [
                {"role": role.value, "email": email, "password": DEMO_PASSWORD}
                for email, _name, role in DEMO_USERS
            ],
            "write_key": keys.format_token(ApiKeyEnvironment.TEST, prefix, secret),
        }

    def seed_events(self, token: str) -> None:
        """A few storefront events through the real ingestion path (same messageIds each
        time, so a second run only counts duplicates), for the events debugger."""
        event_ingest(
            key=api_key_authenticate(token), events=DEMO_EVENTS, kind=None, source="native"
        )

    def seed_destinations(self) -> None:
        """One destination of each type, pointing at the local platform servers that
        ``make run`` starts (``LOCAL_PLATFORMS_URL``). TikTok's token is refused on purpose,
        so the demo shows dead letters next to deliveries that succeed. When the platforms
        moved (``LOCAL_PLATFORMS_URL=…:9101 make run``), the demo destinations follow them."""
        workspace = Workspace.objects.get(slug=DEMO_SLUG)
        base = os.environ.get("LOCAL_PLATFORMS_URL", "http://127.0.0.1:9100").rstrip("/")
        demo = (
            (
                "meta_capi",
                "Meta (local)",
                {"pixel_id": "1234567890123456", "api_base_url": f"{base}/meta"},
                {"access_token": "EAAdemoLocalToken0123456789"},
            ),
            (
                "tiktok_events",
                "TikTok (local, bad token)",
                {"pixel_code": "CDEMO0LOCAL0PIXEL001", "api_base_url": f"{base}/tiktok"},
                {"access_token": "invalid"},
            ),
            (
                "ga4_mp",
                "GA4 (local)",
                {"measurement_id": "G-DEMO12345", "api_base_url": f"{base}/ga4"},
                {"api_secret": "demoLocalApiSecret"},
            ),
            (
                "webhook",
                "Warehouse webhook (local)",
                {"url": f"{base}/webhook/hooks/warehouse", "batch_size": 100},
                {"signing_secret": "whsec_demo"},
            ),
        )
        existing = {
            (row.type, row.name): row for row in Destination.objects.filter(workspace=workspace)
        }
        if existing:
            for kind, name, config, _secrets in demo:
                row = existing.get((kind, name))
                if row is None:
                    continue
                moved = {
                    key: value
                    for key, value in config.items()
                    if key in ("api_base_url", "url")
                    and row.config.get(key) != value
                    # From one local platforms address to another only: one pointed elsewhere stays.
                    and str(row.config.get(key, "")).startswith(LOCAL_PLATFORMS_PREFIXES)
                }
                if moved:
                    destination_update(
                        workspace=workspace, actor=ACTOR, destination=row, values={"config": moved}
                    )
            return
        for kind, name, config, secrets in demo:
            destination_create(
                workspace=workspace,
                actor=ACTOR,
                type=kind,
                name=name,
                config=config,
                secrets=secrets,
            )
