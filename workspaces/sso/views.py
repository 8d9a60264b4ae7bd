"""The workspace's service provider endpoints: metadata, SP-initiated sign-in and the
assertion consumer. Thin: the services validate, provision and audit."""

from allauth.usersessions.models import UserSession
from django.contrib.auth import login, logout
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from workspaces import selectors
from workspaces.dashboard import SIGN_IN_METHOD_KEY, SIGN_IN_SSO, SSO_WORKSPACE_KEY
from workspaces.models import Workspace
from workspaces.sso import saml, services
from workspaces.sso.models import SamlConfig

# A session signed in through SSO says so, and through which workspace's IdP (the MFA policy
# applies to password sign-ins; workspaces/dashboard.py).
SESSION_METHOD_KEY = SIGN_IN_METHOD_KEY
SESSION_INDEX_KEY = "tracklayer_saml_session_index"
BACKEND = "allauth.account.auth_backends.AuthenticationBackend"


def _refused(request, workspace, refusal: services.SamlRefused):
    return render(
        request,
        "sso/refused.html",
        {"workspace": workspace, "reason": refusal.reason, "message": refusal.message},
        status=refusal.status,
    )


@require_GET
def metadata(request, slug: str):
    """The SP's metadata XML (entity id, ACS URL, signing certificate)."""
    # Only once an admin has opened Settings → Identity (which makes the SP's key): an
    # anonymous request never makes a key.
    config = get_object_or_404(
        SamlConfig.objects.select_related("workspace").exclude(sp_certificate=""),
        workspace__slug=slug,
        workspace__deleted_at__isnull=True,
    )
    xml = saml.sp_metadata_xml(config, sp_private_key=services.sp_private_key(config))
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


@require_GET
def login_start(request, slug: str):
    """SP-initiated sign-in: a redirect to the IdP with a signed ``SAMLRequest``."""
    workspace = selectors.workspace_get_active(slug=slug)
    try:
        url = services.saml_login_start(workspace=workspace, next_url=request.GET.get("next"))
    except services.SamlRefused as refusal:
        return _refused(request, workspace, refusal)
    return HttpResponseRedirect(url)


@csrf_exempt  # the IdP posts here from its own site; the signed response is the proof
@require_POST
def acs(request, slug: str):
    """The assertion consumer: a valid response signs the person in."""
    workspace = selectors.workspace_get_active(slug=slug)
    try:
        sign_in = services.saml_sign_in(
            workspace=workspace,
            saml_response=request.POST.get("SAMLResponse", ""),
            relay_state=request.POST.get("RelayState", ""),
        )
    except services.SamlRefused as refusal:
        return _refused(request, workspace, refusal)
    login(request, sign_in.user, backend=BACKEND)
    request.session[SESSION_METHOD_KEY] = SIGN_IN_SSO
    # Only this workspace's IdP vouched for the person: only its MFA policy is waived.
    request.session[SSO_WORKSPACE_KEY] = workspace.public_id
    request.session[SESSION_INDEX_KEY] = sign_in.session_index
    # Recorded as allauth records its own sign-ins, so that a leaver's sessions (SCIM) and
    # "sign out everywhere" find this one too.
    UserSession.objects.create_from_request(request)
    return HttpResponseRedirect(sign_in.redirect_to)


@require_POST
def logout_start(request, slug: str):
    """Sign out here and, for an SSO session with an IdP that has a logout URL, at the IdP too
    (a signed LogoutRequest). POST only: a link cannot sign anyone out."""
    workspace = get_object_or_404(Workspace, slug=slug)
    url = ""
    if (
        request.user.is_authenticated
        and request.session.get(SESSION_METHOD_KEY) == SIGN_IN_SSO
        and workspace.deleted_at is None  # a deleted workspace's IdP is not told: local only
    ):
        url = services.saml_logout_start(
            workspace=workspace,
            user=request.user,
            session_index=request.session.get(SESSION_INDEX_KEY),
        )
    logout(request)
    return HttpResponseRedirect(url or reverse("account_login"))


@require_GET
def sls(request, slug: str):
    """The IdP's logout messages (HTTP-Redirect binding): its answer to ours, or its own
    request to end the session of the person it names."""
    workspace = selectors.workspace_get_active(slug=slug)
    user = request.user if request.user.is_authenticated else None
    try:
        result = services.saml_logout_process(
            workspace=workspace,
            get_data=request.GET.dict(),
            query_string=request.META.get("QUERY_STRING", ""),
            user=user,
        )
    except services.SamlRefused as refusal:
        return _refused(request, workspace, refusal)
    if result.end_session:
        logout(request)
    return HttpResponseRedirect(result.redirect_to)
