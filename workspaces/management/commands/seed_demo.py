"""Seed the demo workspaces — an EU one and a US one, each with its data plane in its region's
database — with three logins (admin, editor, viewer) in both and a write key each. Idempotent.

The demo keys are derived from fixed strings so every run prints the same ones; they are
``tl_test_`` keys, and the command refuses to run in production unless told ``--force``.
Everything goes through the services, so the demo workspaces' audit logs show it all.
"""

import hashlib
import json
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from compliance.access_reviews import selectors as access_review_selectors
from compliance.access_reviews import services as access_reviews
from compliance.access_reviews.models import Decision
from destinations.ingestion.services import event_ingest, ingestion_settings_update
from destinations.models import Destination
from destinations.routing.services import destination_create, destination_update
from tracklayer.regions import REGIONS
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
DEMO_USERS = [
    ("admin@demo.tracklayer.test", "Ada Admin", Role.ADMIN),
    ("editor@demo.tracklayer.test", "Eddie Editor", Role.EDITOR),
    ("viewer@demo.tracklayer.test", "Vera Viewer", Role.VIEWER),
]
ACTOR = SystemActor("seed_demo")
LOCAL_PLATFORMS_PREFIXES = ("http://127.0.0.1:", "http://localhost:")


def demo_token_parts(seed: bytes = b"tracklayer demo write key") -> tuple[str, str]:
    digest = hashlib.sha512(seed).digest()
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


@dataclass(frozen=True)
class DemoWorkspace:
    slug: str
    name: str
    region: str
    key_seed: bytes
    events: list[dict]


# The first is the demo of old (its slug, key and top-level place in the --json output are
# kept); "Acme Store" sorts first, so it is also the one a demo login lands on.
DEMO_WORKSPACES = (
    DemoWorkspace("acme", "Acme Store", "eu", b"tracklayer demo write key", DEMO_EVENTS),
    DemoWorkspace(
        "acme-us",
        "Acme Store US",
        "us",
        b"tracklayer demo write key (us)",
        [event for event in DEMO_EVENTS if event["context"]["location"]["country"] == "US"],
    ),
)
DEMO_SLUG = DEMO_WORKSPACES[0].slug


class Command(BaseCommand):
    help = "Create (or refresh) the demo workspaces (EU and US), three logins and demo write keys."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the logins as JSON")
        parser.add_argument("--force", action="store_true", help="allow in production")

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION and not options["force"]:
            raise CommandError("seed_demo creates known passwords; use --force in production.")
        demo = self.seed()
        for seeded in demo["workspaces"]:
            self.seed_destinations(Workspace.objects.get(slug=seeded["slug"]))
        self.seed_access_review(Workspace.objects.get(slug=demo["workspaces"][0]["slug"]))
        for spec, seeded in zip(DEMO_WORKSPACES, demo["workspaces"], strict=True):
            self.seed_events(seeded["write_key"], spec.events)
        if options["json"]:
            self.stdout.write(json.dumps(demo))
            return
        first, *others = demo["workspaces"]
        self.stdout.write(
            f"Demo workspace: {first['name']} (/{first['slug']}/, {REGIONS[first['region']].label})"
        )
        for login in demo["logins"]:
            self.stdout.write(f"  {login['role']:<7} {login['email']} / {login['password']}")
        for other in others:
            self.stdout.write(
                f"Also: {other['name']} (/{other['slug']}/, {REGIONS[other['region']].label}), "
                f"write key {other['write_key']}"
            )
        self.stdout.write(f"Demo write key: {demo['write_key']}")

    @transaction.atomic
    def seed(self) -> dict:
        users = self.seed_users()
        workspaces = [self.seed_workspace(spec, users) for spec in DEMO_WORKSPACES]
        # German shop: phone numbers written without +49 are read as German ones.
        ingestion_settings_update(
            workspace=workspaces[0], actor=ACTOR, values={"default_region": "DE"}
        )
        listed = [
            {
                "slug": workspace.slug,
                "name": workspace.name,
                "region": workspace.region,
                "write_key": keys.format_token(
                    ApiKeyEnvironment.TEST, *demo_token_parts(spec.key_seed)
                ),
            }
            for spec, workspace in zip(DEMO_WORKSPACES, workspaces, strict=True)
        ]
        return {
            "workspace": {
                "id": workspaces[0].public_id,
                "name": workspaces[0].name,
                "slug": workspaces[0].slug,
            },
            "logins": [
                {"role": role.value, "email": email, "password": DEMO_PASSWORD}
                for email, _name, role in DEMO_USERS
            ],
            "write_key": listed[0]["write_key"],
            "workspaces": listed,
        }

    def seed_users(self) -> list[tuple[User, str]]:
        users = []
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
            users.append((user, role))
        return users

    def seed_workspace(self, spec: DemoWorkspace, users: list[tuple[User, str]]) -> Workspace:
        """The workspace (created in its region; one seeded before keeps the region it has:
        it is pinned), the logins as its members and its write key."""
        workspace = Workspace.objects.filter(slug=spec.slug).first()
        if workspace is None:
            workspace = services.workspace_create(
                actor=ACTOR, name=spec.name, slug=spec.slug, region=spec.region, owner=None
            )
        for user, role in users:
            if not Membership.objects.filter(workspace=workspace, user=user).exists():
                services.member_add(workspace=workspace, actor=ACTOR, user=user, role=role)
        prefix, secret = demo_token_parts(spec.key_seed)
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
        return workspace

    @transaction.atomic
    def seed_access_review(self, workspace: Workspace) -> None:
        """A completed access review — the demo admin confirms every member and key (their own
        membership too: a self-review, one of the findings) — so Compliance → Controls shows
        a review as live evidence. Once: a workspace with a review keeps the ones it has."""
        if access_review_selectors.campaign_list(workspace=workspace).exists():
            return
        admin = User.objects.get(email=DEMO_USERS[0][0])
        campaign = access_reviews.access_review_open(workspace=workspace, actor=admin)
        for item in access_review_selectors.campaign_items(campaign=campaign):
            access_reviews.access_review_decide(
                workspace=workspace,
                actor=admin,
                campaign=campaign,
                item_id=item.public_id,
                decision=Decision.CONFIRM,
                comment="Still needed (demo).",
            )
        access_reviews.access_review_complete(workspace=workspace, actor=admin, campaign=campaign)

    def seed_events(self, token: str, events: list[dict]) -> None:
        """A few storefront events through the real ingestion path, into the key's workspace's
        region (same messageIds each time, so a second run only counts duplicates), for the
        events debugger."""
        event_ingest(key=api_key_authenticate(token), events=events, kind=None, source="native")

    def seed_destinations(self, workspace: Workspace) -> None:
        """One destination of each type in ``workspace``, pointing at the local platform
        servers that ``make run`` starts (``LOCAL_PLATFORMS_URL``). TikTok's token is refused on
        purpose, so the demo shows dead letters next to deliveries that succeed. When the platforms
        moved (``LOCAL_PLATFORMS_URL=…:9101 make run``), the demo destinations follow them. Each
        has an owner (a demo login) and a purpose, as the compliance inventory asks; a demo
        seeded before gets them once, unless someone has named them since."""
        base = os.environ.get("LOCAL_PLATFORMS_URL", "http://127.0.0.1:9100").rstrip("/")
        demo = (
            (
                "meta_capi",
                "Meta (local)",
                {"pixel_id": "1234567890123456", "api_base_url": f"{base}/meta"},
                {"access_token": "EAAdemoLocalToken0123456789"},
                "editor@demo.tracklayer.test",
                "Measure and optimise our Meta ad campaigns (purchases and sign-ups).",
            ),
            (
                "tiktok_events",
                "TikTok (local, bad token)",
                {"pixel_code": "CDEMO0LOCAL0PIXEL001", "api_base_url": f"{base}/tiktok"},
                {"access_token": "invalid"},
                "editor@demo.tracklayer.test",
                "Measure our TikTok ad campaigns.",
            ),
            (
                "ga4_mp",
                "GA4 (local)",
                {"measurement_id": "G-DEMO12345", "api_base_url": f"{base}/ga4"},
                {"api_secret": "demoLocalApiSecret"},
                "editor@demo.tracklayer.test",
                "Site analytics: traffic, funnels and conversions.",
            ),
            (
                "webhook",
                "Warehouse webhook (local)",
                {"url": f"{base}/webhook/hooks/warehouse", "batch_size": 100},
                {"signing_secret": "whsec_demo"},
                "admin@demo.tracklayer.test",
                "Copy of every event into our own data warehouse for reporting.",
            ),
        )
        # Owners and purposes, so the demo's compliance pages show a complete inventory.
        owners = dict(
            User.objects.filter(email__in=[row[4] for row in demo]).values_list(
                "email", "public_id"
            )
        )
        existing = {
            (row.type, row.name): row for row in Destination.objects.filter(workspace=workspace)
        }
        if existing:
            for kind, name, config, _secrets, owner, purpose in demo:
                row = existing.get((kind, name))
                if row is None:
                    continue
                values = {}
                # Named once, for a demo seeded before owners existed: a choice made since stays.
                if row.owner_id is None and not row.purpose and row.deleted_at is None:
                    values = {"owner": owners.get(owner), "purpose": purpose}
                moved = {
                    key: value
                    for key, value in config.items()
                    if key in ("api_base_url", "url")
                    and row.config.get(key) != value
                    # From one local platforms address to another only: one pointed elsewhere stays.
                    and str(row.config.get(key, "")).startswith(LOCAL_PLATFORMS_PREFIXES)
                }
                if moved:
                    values["config"] = moved
                if values:
                    destination_update(
                        workspace=workspace, actor=ACTOR, destination=row, values=values
                    )
            return
        for kind, name, config, secrets, owner, purpose in demo:
            destination_create(
                workspace=workspace,
                actor=ACTOR,
                type=kind,
                name=name,
                config=config,
                secrets=secrets,
                owner=owners.get(owner),
                purpose=purpose,
            )
