"""Factories for destinations and the delivery log.

Destinations are made by ``destination_create`` (validated, encrypted, audited as in
production). Deliveries and attempts are the delivery engine's rows; for reading tests
(health, the delivery log, replay) they are written straight to the tables, as the engine
leaves them.
"""

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from destinations.models import Delivery, DeliveryAttempt, Destination
from destinations.routing.services import destination_create
from tests.factories import EventFactory
from workspaces.actors import SystemActor

FACTORY_ACTOR = SystemActor("tests")

# Long enough for the masked form (••••last4) to be shown; unique, so a scan finds them.
SECRETS = {
    "meta_capi": {"access_token": "EAAGmetaTOKENsecret0123456789abcdefXYZ1"},
    "tiktok_events": {"access_token": "tiktokTOKENsecret0123456789abcdefXYZ2"},
    "ga4_mp": {"api_secret": "ga4SECRETvalue0123456789XYZ3"},
    "webhook": {"signing_secret": "whsec_SIGNINGsecret0123456789XYZ4"},
}
# Every secret value above, for scanning pages, answers, audit rows and logs for a leak.
ALL_SECRET_VALUES = [value for secrets in SECRETS.values() for value in secrets.values()]
CONFIGS = {
    "meta_capi": {"pixel_id": "1234567890123456"},
    "tiktok_events": {"pixel_code": "COQDA8RC77U2TMR44LI0"},
    "ga4_mp": {"measurement_id": "G-ABC123XYZ9"},
    "webhook": {"url": "https://hooks.example.test/tracklayer", "batch_size": 100},
}


class DestinationFactory(DjangoModelFactory):
    """``DestinationFactory(workspace=…, type="meta_capi")``: valid settings and secrets of the
    type unless given."""

    class Meta:
        model = Destination

    workspace = None
    type = "webhook"
    name = factory.Sequence(lambda n: f"Destination {n}")

    @classmethod
    def _create(cls, model_class, *, workspace, type, name, config=None, secrets=None, **kwargs):
        return destination_create(
            workspace=workspace,
            actor=FACTORY_ACTOR,
            type=type,
            name=name,
            config=dict(CONFIGS[type]) if config is None else config,
            secrets=dict(SECRETS[type]) if secrets is None else secrets,
            **kwargs,
        )


class DeliveryFactory(DjangoModelFactory):
    """A delivery of a fresh event to ``destination`` (status pending unless given)."""

    class Meta:
        model = Delivery

    destination = None
    workspace = factory.LazyAttribute(lambda d: d.destination.workspace)
    event = factory.LazyAttribute(lambda d: EventFactory(workspace=d.destination.workspace))
    status = "pending"
    created_at = factory.LazyFunction(timezone.now)
    next_attempt_at = factory.LazyAttribute(lambda d: d.created_at)
    decision = factory.LazyFunction(lambda: {"action": "deliver", "reasons": ["no_requirements"]})

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # factory_boy would write through the "default" database, the control plane.
        return model_class.objects.for_workspace(kwargs["workspace"]).create(*args, **kwargs)


class DeliveryAttemptFactory(DjangoModelFactory):
    class Meta:
        model = DeliveryAttempt

    delivery = None
    destination = factory.LazyAttribute(lambda a: a.delivery.destination)
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))
    latency_ms = 120
    status_code = 200
    outcome = "delivered"
    error = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Beside its delivery, in that delivery's region's database.
        return model_class.objects.using(kwargs["delivery"]._state.db).create(*args, **kwargs)
