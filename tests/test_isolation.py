"""Tenant isolation: every URL of the project, tried by someone from another workspace.

The URL list is read from the resolver, so a new URL is tested without anyone remembering
to; a URL that fits no category below makes ``test_every_url_is_classified`` fail until it
is classified on purpose.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.models import AuditEntry
from tests.factories import EventFactory, MembershipFactory
from workspaces import services
from workspaces.models import ApiKeyRole, Role

# Pages that are not scoped to a workspace, each with the reason it is safe.
PUBLIC = {
    "healthz": "liveness probe, constant body",
    "readyz": "readiness probe, no tenant data",
    "dashboard:home": "redirects to the caller's own first workspace",
    "dashboard:workspace-create": "creates a new workspace owned by the caller",
    "dashboard:invitation-accept": "needs the invitation's secret token (tested in services)",
    "api:schema": "the OpenAPI description of the API, no tenant data",
    "api:docs": "the interactive API reference (static), no tenant data",
}
SKIPPED_PREFIXES = (
    "admin/",  # staff only: test_admin_requires_staff
    "accounts/",  # allauth: the caller's own account
)


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}", pattern


def project_urls():
    return [
        (route, name, pattern)
        for route, name, pattern in _walk(get_resolver().url_patterns)
        if not route.startswith(SKIPPED_PREFIXES)
    ]


def _category(route: str, name: str) -> str | None:
    if name in PUBLIC:
        return "public"
    if route.startswith("v1/"):
        return "api"
    if "<slug:slug>" in route:
        return "workspace"
    return None


def test_every_url_is_classified():
    unclassified = [route for route, name, _ in project_urls() if _category(route, name) is None]
    assert unclassified == []


WORKSPACE_URLS = [
    pytest.param(name, pattern, id=route)
    for route, name, pattern in project_urls()
    if _category(route, name) == "workspace"
]
API_URLS = [
    pytest.param(name, pattern, id=route)
    for route, name, pattern in project_urls()
    if _category(route, name) == "api"
]


@pytest.fixture
def victim(workspace, admin_user, make_api_key, system_actor):
    """A workspace with a member, a pending invitation and a key — everything a URL can name."""
    member = MembershipFactory(workspace=workspace, role=Role.EDITOR, user__name="Secret Member")
    invitation, _token = services.member_invite(
        workspace=workspace, actor=system_actor, email="hidden@victim.test", role=Role.VIEWER
    )
    key, _token = make_api_key(workspace, role=ApiKeyRole.ADMIN, name="Victim key")
    event = EventFactory(workspace=workspace, message_id="victim-message-1", name="Victim Event")
    from tests.destinations.factories import DeliveryFactory, DestinationFactory

    destination = DestinationFactory(workspace=workspace, name="Victim Destination")
    delivery = DeliveryFactory(destination=destination, event=event, status="dead")
    return {
        "workspace": workspace,
        "kwargs": {
            "slug": workspace.slug,
            "user_id": member.user.public_id,
            "key_id": key.public_id,
            "invitation_id": invitation.public_id,
            "kind": "meta_capi",
            "message_id": event.message_id,
            "destination_id": destination.public_id,
            "delivery_id": delivery.pk,
        },
        "markers": [
            workspace.name,
            workspace.public_id,
            member.user.email,
            member.user.public_id,
            admin_user.email,
            "hidden@victim.test",
            key.prefix,
            key.public_id,
            event.message_id,
            destination.name,
            destination.public_id,
        ],
    }


def _assert_no_markers(response, markers):
    body = response.content.decode()
    leaked = [marker for marker in markers if marker in body]
    assert leaked == [], f"{response.request['PATH_INFO']} disclosed {leaked}"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), WORKSPACE_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_dashboard_url_is_404_for_a_member_of_another_workspace(
    client, victim, other_workspace, other_admin_user, name, pattern, method
):
    # Given an admin of another workspace, signed in
    client.force_login(other_admin_user)
    keys = set(pattern.pattern.converters)
    url = reverse(name, kwargs={k: v for k, v in victim["kwargs"].items() if k in keys})
    audit_before = AuditEntry.objects.filter(workspace=victim["workspace"]).count()

    # When they request the victim workspace's URL (POST with plausible form data)
    data = {
        "role": "admin",
        "name": "Pwned",
        "email": "x@evil.test",
        "grace": "0",
        "environment": "live",
        "expires_in": "90",
    }
    response = getattr(client, method)(url, data if method == "post" else None)

    # Then it does not exist for them, it says nothing, and nothing changed
    assert response.status_code == 404
    _assert_no_markers(response, victim["markers"])
    assert AuditEntry.objects.filter(workspace=victim["workspace"]).count() == audit_before


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), API_URLS)
@pytest.mark.parametrize("role", [ApiKeyRole.ADMIN, ApiKeyRole.WRITE, ApiKeyRole.AUDIT])
@pytest.mark.parametrize("method", ["get", "post"])
def test_api_url_never_shows_or_changes_another_workspace(
    api_client, victim, other_workspace, make_api_key, name, pattern, role, method
):
    _key, token = make_api_key(other_workspace, role=role)
    keys = set(pattern.pattern.converters)
    audit_before = AuditEntry.objects.filter(workspace=victim["workspace"]).count()
    data = {"event_type": "x", "resource_id": victim["kwargs"]["key_id"], "payload": {}}
    response = getattr(api_client, method)(
        reverse(name, kwargs={k: v for k, v in victim["kwargs"].items() if k in keys}),
        data if method == "post" else None,
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    # 400: a required parameter is missing; 405: the URL does not take this method
    assert response.status_code in (200, 201, 400, 403, 404, 405)
    _assert_no_markers(response, [m for m in victim["markers"] if m != victim["kwargs"]["key_id"]])
    assert AuditEntry.objects.filter(workspace=victim["workspace"]).count() == audit_before
    if response.status_code == 200 and "workspace_id" in response.json():
        assert response.json()["workspace_id"] == other_workspace.public_id


@pytest.mark.django_db
def test_the_same_urls_work_for_a_member(client, victim, admin_user):
    """The 404s above come from isolation, not from broken URLs: the owner gets pages."""
    client.force_login(admin_user)
    for route, name, pattern in project_urls():
        if _category(route, name) != "workspace":
            continue
        keys = set(pattern.pattern.converters)
        url = reverse(name, kwargs={k: v for k, v in victim["kwargs"].items() if k in keys})
        if name.endswith(("members", "api-keys", "settings", "overview", "log")):
            assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_admin_requires_staff(client, other_admin_user, victim):
    client.force_login(other_admin_user)
    response = client.get("/admin/workspaces/workspace/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
