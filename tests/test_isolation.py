"""Tenant isolation: every URL of the project, tried by someone from another workspace.

The URL list is read from the resolver, so a new URL is tested without anyone remembering
to; a URL that fits no category below makes ``test_every_url_is_classified`` fail until it
is classified on purpose.
"""

import io
import zipfile
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from audit import services as audit_services
from audit.models import AuditLogHead
from compliance.access_reviews import services as access_review_services
from monitoring.anomalies import services as anomaly_services
from monitoring.anomalies.detectors import Finding
from monitoring.incidents import services as incident_services
from privacy.requests import services as dsr_services
from tests.audit_entries import audit_count
from tests.destinations.factories import DeliveryFactory, DestinationFactory
from tests.factories import EventFactory, MembershipFactory
from workspaces import services
from workspaces.models import ApiKeyRole, Role
from workspaces.scim import services as scim_services

# Pages that are not scoped to a workspace, each with the reason it is safe.
PUBLIC = {
    "healthz": "liveness probe, constant body",
    "readyz": "readiness probe, no tenant data",
    "dashboard:home": "redirects to the caller's own first workspace",
    "dashboard:workspace-create": "creates a new workspace owned by the caller",
    "dashboard:invitation-accept": "needs the invitation's secret token (tested in services)",
    "api:schema": "the OpenAPI description of the API, no tenant data",
    "api:docs": "the interactive API reference (static), no tenant data",
    # SAML service provider endpoints (workspaces/sso, tests/workspaces/sso): the IdP and the
    # browser reach them without a TrackLayer session; the slug names the SP, nothing more.
    "sso:metadata": "the SP's public metadata: entity id, ACS URL, public signing certificate",
    "sso:login": "redirects to the workspace's IdP with a signed AuthnRequest; no tenant data",
    "sso:acs": "acts only on a response signed by the workspace's IdP for a request it issued",
    "sso:logout": "POST: ends the caller's own session (and asks the IdP to end its own)",
    "sso:sls": "acts only on logout messages signed by the workspace's IdP",
    # SCIM 2.0: no session; the workspace's SCIM bearer token names the workspace
    # (token isolation: tests/workspaces/scim/test_lifecycle.py)
    "scim:service-provider-config": "SCIM discovery behind a SCIM token, no tenant data",
    "scim:resource-types": "SCIM discovery behind a SCIM token, no tenant data",
    "scim:resource-type": "SCIM discovery behind a SCIM token, no tenant data",
    "scim:schemas": "SCIM discovery behind a SCIM token, no tenant data",
    "scim:schema": "SCIM discovery behind a SCIM token, no tenant data",
    "scim:users": "the SCIM token's own workspace only (test_lifecycle.py)",
    "scim:user": "the SCIM token's own workspace only; another's ids are 404",
    "scim:groups": "the SCIM token's own workspace only (test_lifecycle.py)",
    "scim:group": "the SCIM token's own workspace only; another's ids are 404",
    "scim:unknown": "SCIM's 404 for any other path under /scim/v2/, no tenant data",
    # Public verification (opt-in; tests/compliance/public_verification): only the log's
    # checkpoints, verifier keys and proofs of a workspace that turned it on; the same 404
    # for a workspace that is unknown, deleted or has not; a 100-bit public id in the path.
    "public_verification:page": "a workspace's signed checkpoints and proofs, if it opted in",
    "api:public-verification": "a workspace's signed checkpoints and keys, if it opted in",
    "api:public-verification-proof": "an inclusion proof for a hash the caller holds, if opted in",
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


# What the workspace's own admin gets at each dashboard URL with the request the walk sends:
# the positive control, so a URL that answers 404 to everyone cannot pass for isolated.
# ``(GET, POST)``; 405 where the view takes only the other method, 422/400 where the walk's
# form data is not valid for that form.
DASHBOARD_OWNER_STATUS = {
    "dashboard:identity": (200, 405),
    "dashboard:identity-mfa": (405, 200),
    "dashboard:identity-saml-metadata": (405, 422),
    "dashboard:identity-saml-fields": (405, 422),
    "dashboard:identity-saml-domains": (405, 200),
    "dashboard:identity-saml-break-glass": (405, 422),
    "dashboard:identity-saml-group-roles": (405, 422),
    "dashboard:identity-saml-disable": (405, 200),
    "dashboard:identity-scim-token-create": (405, 200),
    "dashboard:identity-scim-token-rotate": (405, 200),
    "dashboard:identity-scim-token-revoke": (405, 200),
    "dashboard:identity-scim-settings": (405, 422),
    "audit:checkpoint": (405, 200),
    "audit:compliance": (200, 400),
    "audit:entry": (200, 405),
    "audit:entry-proof": (200, 405),  # entry 0, under the victim's checkpoint
    "audit:export-now": (405, 400),
    "audit:lock": (405, 200),
    "audit:log": (200, 200),
    "audit:unlock": (405, 409),
    "audit:verify": (405, 200),
    "dashboard:api-key-create": (405, 200),
    "dashboard:api-key-revoke": (405, 200),
    "dashboard:api-key-rotate": (405, 200),
    "dashboard:api-keys": (200, 200),
    "dashboard:invitation-revoke": (405, 200),
    "dashboard:member-change-role": (405, 200),
    "dashboard:member-invite": (405, 200),
    "dashboard:member-remove": (405, 200),
    "dashboard:members": (200, 200),
    "dashboard:settings": (200, 302),
    "dashboard:workspace-delete": (405, 422),  # the walk's form does not type the slug
    "destinations:dead-letters": (200, 405),
    "destinations:dead-letters-bulk": (405, 422),
    "destinations:dead-letters-replay": (405, 302),
    "destinations:deliveries": (200, 405),
    "destinations:delivery-detail": (200, 405),
    "destinations:delivery-replay": (405, 302),
    "destinations:destination-create": (200, 200),
    "destinations:destination-delete": (405, 302),
    "destinations:destination-edit": (200, 405),
    "destinations:destination-pause": (405, 302),
    "destinations:destination-resume": (405, 302),
    "destinations:destination-test": (405, 200),
    "destinations:destination-update": (405, 422),
    "destinations:destinations": (200, 405),
    "destinations:event-detail": (200, 405),
    "destinations:events": (200, 405),
    "destinations:events-table": (200, 405),
    "destinations:events-rejected": (200, 405),
    "destinations:events-user": (405, 302),
    "destinations:ingestion-settings": (200, 422),
    "destinations:retention": (200, 422),
    "destinations:tracking-plan": (200, 405),
    "destinations:tracking-plan-delete": (405, 422),
    "destinations:tracking-plan-event-remove": (405, 422),
    "destinations:tracking-plan-event-save": (405, 422),
    "destinations:tracking-plan-export": (200, 405),
    "destinations:tracking-plan-import": (405, 422),
    "destinations:tracking-plan-mode": (405, 422),
    "monitoring:overview": (200, 405),
    "privacy:consent": (200, 405),
    "privacy:consent-general": (405, 422),
    "privacy:consent-policy": (405, 422),
    "privacy:consent-tester": (200, 405),
    "privacy:requests": (200, 422),
    "privacy:request": (200, 405),
    "privacy:request-receipt": (200, 405),
    "privacy:request-export": (200, 405),
    "privacy:suppressed": (200, 405),
    "anomalies:list": (200, 405),
    "anomalies:alert-settings": (200, 422),  # the walk's form has no quiet period or severity
    "anomalies:detail": (200, 405),
    "anomalies:acknowledge": (405, 302),
    "anomalies:resolve": (405, 302),
    "incidents:list": (200, 405),
    "incidents:open": (405, 422),
    "incidents:detail": (200, 405),
    "incidents:phase": (405, 422),
    "incidents:note": (405, 422),
    "incidents:postmortem": (405, 302),  # every post-mortem field is optional until closing
    "incidents:pause": (405, 422),
    "incidents:pause-all": (405, 302),
    "incidents:resume": (405, 409),  # nothing this incident paused
    "incidents:revoke-key": (405, 422),
    "incidents:export": (200, 405),
    "access_reviews:list": (200, 405),
    "access_reviews:open": (405, 422),  # the walk's form has no due date
    "access_reviews:detail": (200, 405),
    "access_reviews:decide": (405, 422),  # nor an item
    "access_reviews:confirm-unchanged": (405, 409),  # the first review: nothing is unchanged
    "access_reviews:complete": (405, 409),  # items undecided
    "access_reviews:cancel": (405, 302),
    "access_reviews:export-csv": (200, 405),
    "access_reviews:export-json": (200, 405),
    "evidence:package": (200, 405),
    "evidence:package-download": (405, 200),  # the zip (building it is recorded)
    "inventory:list": (200, 405),
    "inventory:csv": (200, 405),
    "inventory:json": (200, 405),
    "public_verification:settings": (200, 422),  # the walk's form has no on/off choice
    "compliance:controls": (200, 405),
    "compliance:controls-json": (200, 405),
}

# The same for the API, per method and key role ``(admin, write, audit)``: 403 where the role
# may not, 405 where the route does not take the method, 400 where the walk's body or query is
# not valid there. The key names the workspace, so another workspace's key gets the same answer
# about its own workspace, except where the URL names one of the victim's objects:
# API_OUTSIDER_STATUS lists those.
NOT_ALLOWED = (405, 405, 405)
FORBIDDEN = (403, 403, 403)
INGESTION = {"get": NOT_ALLOWED, "post": (400, 400, 403)}
ADMIN_ONLY = {"get": (200, 403, 403), "post": (405, 403, 403)}
ADMIN_ACTION = {"get": (405, 403, 403), "post": (200, 403, 403)}
AUDIT_READ = {"get": (200, 403, 200), "post": (405, 403, 405)}
API_OWNER_STATUS = {
    "api:audit-checkpoint": AUDIT_READ,
    "api:audit-event-create": {"get": (405, 403, 405), "post": (201, 403, 201)},
    "api:audit-proof-consistency": AUDIT_READ,
    "api:audit-proof-inclusion": AUDIT_READ,
    "api:audit-verify": AUDIT_READ,
    "api:deliveries": ADMIN_ONLY,
    "api:deliveries-replay": {"get": (405, 403, 403), "post": (400, 403, 403)},
    "api:destination-detail": ADMIN_ONLY,
    "api:destination-pause": ADMIN_ACTION,
    "api:destination-resume": {"get": (405, 403, 403), "post": (409, 403, 403)},
    "api:destination-test": ADMIN_ACTION,
    "api:data-subject-requests": {"get": (200, 403, 403), "post": (400, 403, 403)},
    "api:data-subject-request-detail": ADMIN_ONLY,
    "api:data-subject-request-export": ADMIN_ONLY,
    "api:data-subject-request-receipt": ADMIN_ONLY,
    "api:destinations": {"get": (200, 403, 403), "post": (400, 403, 403)},
    "api:event-detail": ADMIN_ONLY,
    "api:events": INGESTION,
    "api:anomalies": ADMIN_ONLY,
    "api:anomaly-detail": ADMIN_ONLY,
    "api:incidents": ADMIN_ONLY,
    "api:incident-detail": ADMIN_ONLY,
    "api:incident-export": ADMIN_ONLY,
    # Another workspace's admin key gets its own workspace's package: _response_text reads
    # every file in the zip for the victim's markers.
    "api:evidence-package": ADMIN_ONLY,
    "api:member-list": ADMIN_ONLY,
    "api:unknown": {"get": (404, 404, 404), "post": (404, 404, 404)},  # the JSON 404 itself
    "api:whoami": {"get": (200, 200, 200), "post": NOT_ALLOWED},
    "api:workspace": ADMIN_ONLY,
    **{
        f"api:segment-{path}": INGESTION
        for path in (
            *("track", "identify", "page", "screen", "group", "alias", "batch", "import"),
            *("t", "i", "p", "s", "g", "a", "b"),  # analytics.js short paths
        )
    },
}
API_OUTSIDER_STATUS = {
    # (name, method, role): what a key of another workspace gets where the owner's key succeeds
    ("api:audit-checkpoint", "get", ApiKeyRole.ADMIN): 404,  # its own log has no checkpoint
    ("api:audit-checkpoint", "get", ApiKeyRole.AUDIT): 404,
    ("api:audit-proof-consistency", "get", ApiKeyRole.ADMIN): 400,  # beyond its own log
    ("api:audit-proof-consistency", "get", ApiKeyRole.AUDIT): 400,
    ("api:audit-proof-inclusion", "get", ApiKeyRole.ADMIN): 400,
    ("api:audit-proof-inclusion", "get", ApiKeyRole.AUDIT): 400,
    ("api:destination-detail", "get", ApiKeyRole.ADMIN): 404,
    ("api:destination-pause", "post", ApiKeyRole.ADMIN): 404,
    ("api:destination-resume", "post", ApiKeyRole.ADMIN): 404,
    ("api:destination-test", "post", ApiKeyRole.ADMIN): 404,
    ("api:event-detail", "get", ApiKeyRole.ADMIN): 404,
    ("api:data-subject-request-detail", "get", ApiKeyRole.ADMIN): 404,
    ("api:data-subject-request-export", "get", ApiKeyRole.ADMIN): 404,
    ("api:data-subject-request-receipt", "get", ApiKeyRole.ADMIN): 404,
    ("api:anomaly-detail", "get", ApiKeyRole.ADMIN): 404,
    ("api:incident-detail", "get", ApiKeyRole.ADMIN): 404,
    ("api:incident-export", "get", ApiKeyRole.ADMIN): 404,
}
API_ROLES = (ApiKeyRole.ADMIN, ApiKeyRole.WRITE, ApiKeyRole.AUDIT)


def test_every_walked_url_has_its_owner_status_written_down():
    dashboard = {p.values[0] for p in WORKSPACE_URLS}
    api = {p.values[0] for p in API_URLS}
    assert (dashboard, api) == (set(DASHBOARD_OWNER_STATUS), set(API_OWNER_STATUS))


@pytest.fixture
def victim(workspace, admin_user, make_api_key, system_actor):
    """A workspace with a member, a pending invitation, a key, an event, a destination with a
    dead delivery and a signed checkpoint — everything a URL can name."""
    member = MembershipFactory(workspace=workspace, role=Role.EDITOR, user__name="Secret Member")
    invitation, _token = services.member_invite(
        workspace=workspace, actor=system_actor, email="hidden@victim.test", role=Role.VIEWER
    )
    key, _token = make_api_key(workspace, role=ApiKeyRole.ADMIN, name="Victim key")
    event = EventFactory(workspace=workspace, message_id="victim-message-1", name="Victim Event")
    destination = DestinationFactory(workspace=workspace, name="Victim Destination")
    delivery = DeliveryFactory(destination=destination, event=event, status="dead")
    audit_services.audit_checkpoint_sign(workspace=workspace, actor=system_actor)
    scim_token, _secret = scim_services.scim_token_create(
        workspace=workspace, actor=system_actor, name="Victim SCIM"
    )
    subject_request = dsr_services.dsr_create(
        workspace=workspace,
        actor=system_actor,
        type="access",
        subject={"user_id": "victim-user"},
        enqueue=False,
    )
    dsr_services.dsr_run(request_id=subject_request.public_id)
    incident = incident_services.incident_open_auto(
        workspace=workspace,
        source_kind="anomaly",
        source_id="ano_victim",
        title="Victim Incident",
        severity="high",
        subject=f"destination:{destination.public_id}",
    )
    anomaly_services.anomalies_apply(
        workspace=workspace,
        findings=[
            Finding(
                kind="volume_drop",
                subject="event:Victim Event",
                severity="medium",
                summary="Victim Anomaly: Victim Event dropped.",
                evidence={"observed": 0},
            )
        ],
        now=timezone.now(),
    )
    anomaly = workspace.anomalies.get()
    access_review = access_review_services.access_review_open(
        workspace=workspace, actor=system_actor
    )
    size = AuditLogHead.objects.get(workspace=workspace).size
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
            "token_id": scim_token.public_id,
            "request_id": subject_request.public_id,
            "incident_id": incident.public_id,
            "anomaly_id": anomaly.public_id,
            "campaign_id": access_review.public_id,
            "idx": 0,  # the victim's first entry, which its checkpoint covers
        },
        # Proofs about the victim's last entry: valid for its log, beyond another's
        "query": {"index": size - 1, "first": size},
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
            scim_token.public_id,
            scim_token.prefix,
            subject_request.public_id,
            incident.public_id,
            incident.title,
            anomaly.public_id,
            anomaly.summary,
            access_review.public_id,
        ],
    }


def _response_text(response) -> str:
    """The body as text; a zip (the auditor package) as the text of every file in it."""
    if response.get("Content-Type") == "application/zip":
        with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
            return "\n".join(archive.read(name).decode() for name in archive.namelist())
    return response.content.decode()


def _assert_no_markers(response, markers):
    body = _response_text(response)
    leaked = [marker for marker in markers if marker in body]
    assert leaked == [], f"{response.request['PATH_INFO']} disclosed {leaked}"


def _url(victim, name, pattern) -> str:
    keys = set(pattern.pattern.converters)
    return reverse(name, kwargs={k: v for k, v in victim["kwargs"].items() if k in keys})


# Plausible form data for every dashboard form
DASHBOARD_POST = {
    "role": "admin",
    "name": "Pwned",
    "email": "x@evil.test",
    "grace": "0",
    "environment": "live",
    "expires_in": "90",
}


def _dashboard_request(client, victim, name, pattern, method):
    url = _url(victim, name, pattern)
    return getattr(client, method)(url, DASHBOARD_POST if method == "post" else None)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), WORKSPACE_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_dashboard_url_is_404_for_a_member_of_another_workspace(
    client, victim, other_workspace, other_admin_user, name, pattern, method
):
    # Given an admin of another workspace, signed in
    client.force_login(other_admin_user)
    audit_before = audit_count(victim["workspace"])

    # When they request the victim workspace's URL (POST with plausible form data)
    response = _dashboard_request(client, victim, name, pattern, method)

    # Then it does not exist for them, it says nothing, and nothing changed
    assert response.status_code == 404
    _assert_no_markers(response, victim["markers"])
    assert audit_count(victim["workspace"]) == audit_before


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), WORKSPACE_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_dashboard_url_answers_the_workspaces_own_admin(
    client, victim, admin_user, name, pattern, method
):
    """The 404s above come from isolation, not from broken URLs: the same request by the
    workspace's own admin gets the page (or the form's own answer)."""
    client.force_login(admin_user)

    response = _dashboard_request(client, victim, name, pattern, method)

    expected = DASHBOARD_OWNER_STATUS[name][0 if method == "get" else 1]
    assert response.status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), WORKSPACE_URLS)
def test_dashboard_url_is_404_for_the_own_admin_once_the_workspace_is_deleted(
    client, victim, admin_user, name, pattern
):
    """A deleted workspace is gone for its own members too (docs/workspace-lifecycle.md)."""
    services.workspace_delete(
        workspace=victim["workspace"], actor=admin_user, confirm_slug=victim["workspace"].slug
    )
    client.force_login(admin_user)
    audit_before = audit_count(victim["workspace"])

    for method in ("get", "post"):
        response = _dashboard_request(client, victim, name, pattern, method)
        assert response.status_code == 404
        _assert_no_markers(response, victim["markers"])
    assert audit_count(victim["workspace"]) == audit_before


def _api_request(api_client, victim, token, name, pattern, method):
    data = {"event_type": "x", "resource_id": victim["kwargs"]["key_id"], "payload": {}}
    return getattr(api_client, method)(
        f"{_url(victim, name, pattern)}?{urlencode(victim['query'])}",
        data if method == "post" else None,
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), API_URLS)
@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_api_url_never_shows_or_changes_another_workspace(
    api_client, victim, other_workspace, make_api_key, name, pattern, role, method
):
    _key, token = make_api_key(other_workspace, role=role)
    audit_before = audit_count(victim["workspace"])

    response = _api_request(api_client, victim, token, name, pattern, method)

    owner_status = API_OWNER_STATUS[name][method][API_ROLES.index(role)]
    assert response.status_code == API_OUTSIDER_STATUS.get((name, method, role), owner_status)
    _assert_no_markers(response, [m for m in victim["markers"] if m != victim["kwargs"]["key_id"]])
    assert audit_count(victim["workspace"]) == audit_before
    if (
        response.status_code == 200
        and response.get("Content-Type") == "application/json"
        and "workspace_id" in response.json()
    ):
        assert response.json()["workspace_id"] == other_workspace.public_id


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "pattern"), API_URLS)
@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_api_url_answers_the_workspaces_own_key(
    api_client, victim, make_api_key, name, pattern, role, method
):
    """The positive control for the API: the victim's own key, same request."""
    _key, token = make_api_key(victim["workspace"], role=role)

    response = _api_request(api_client, victim, token, name, pattern, method)

    assert response.status_code == API_OWNER_STATUS[name][method][API_ROLES.index(role)]


@pytest.mark.django_db
def test_admin_requires_staff(client, other_admin_user, victim):
    client.force_login(other_admin_user)
    response = client.get("/admin/workspaces/workspace/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
