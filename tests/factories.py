"""factory_boy factories. Whatever the product creates through a service is created here through
that same service, so test data carries the audit entries real data would."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from destinations.models import EventMessageId, EventOperational
from workspaces import services
from workspaces.actors import SystemActor
from workspaces.models import Membership, Region, Role, User, Workspace

TEST_PASSWORD = "correct horse battery staple"
FACTORY_ACTOR = SystemActor("tests")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    name = factory.Faker("name")
    password = TEST_PASSWORD

    @classmethod
    def _create(cls, model_class, *args, password=TEST_PASSWORD, **kwargs):
        return model_class.objects.create_user(*args, password=password, **kwargs)


class WorkspaceFactory(DjangoModelFactory):
    """A workspace made by ``services.workspace_create``: its audit log is opened and its
    creation (and its owner's membership, when ``owner`` is given) recorded."""

    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    region = Region.US
    owner = None

    @classmethod
    def _create(cls, model_class, *, owner, **kwargs):
        return services.workspace_create(actor=FACTORY_ACTOR, owner=owner, **kwargs)


class MembershipFactory(DjangoModelFactory):
    """A member added by ``services.member_add`` (recorded as ``member.joined``)."""

    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER

    @classmethod
    def _create(cls, model_class, *, workspace, user, role):
        return services.member_add(workspace=workspace, actor=FACTORY_ACTOR, user=user, role=role)


def _now():

    return timezone.now()


class EventFactory(DjangoModelFactory):
    """A stored event, written straight to the event store of its workspace's region — as
    ingestion leaves it: minimised, identifiers hashed, consent captured. For reading tests
    (the events debugger); tests of ingestion itself go through the API."""

    class Meta:
        model = "destinations.Event"

    workspace = factory.SubFactory(WorkspaceFactory, owner=None)
    message_id = factory.Sequence(lambda n: f"msg-{n:06d}")
    type = "track"
    name = "Order Completed"
    anonymous_id = factory.Sequence(lambda n: f"anon-{n}")
    timestamp = factory.LazyFunction(_now)
    received_at = factory.LazyAttribute(lambda event: event.timestamp)
    properties = factory.LazyFunction(lambda: {"order_id": "o-1", "total": 42.5})
    traits = factory.LazyFunction(dict)
    context = factory.LazyFunction(lambda: {"library": {"name": "analytics.js"}})
    identifiers = factory.LazyFunction(dict)
    consent = factory.LazyFunction(dict)
    validation = factory.LazyFunction(lambda: {"hashed": [], "removed": [], "warnings": []})
    status = "ok"
    source = "native"
    fanout_pending = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # factory_boy would write through the "default" database, the control plane.
        return model_class.objects.for_workspace(kwargs["workspace"]).create(*args, **kwargs)


def event_with_operational_data(workspace, message_id: str, received_at):
    """A stored event with its de-duplication row and its operational data (IP address, user
    agent), as the retention purge finds them."""
    event = EventFactory(
        workspace=workspace,
        message_id=message_id,
        name="X",
        timestamp=received_at,
        received_at=received_at,
    )
    EventMessageId.objects.for_workspace(workspace).create(
        workspace=workspace, message_id=message_id, received_at=received_at
    )
    EventOperational.objects.for_workspace(workspace).create(
        event=event, workspace=workspace, ip="203.0.113.9", user_agent="UA", received_at=received_at
    )
    return event
