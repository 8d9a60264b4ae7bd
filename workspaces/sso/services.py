"""SAML SSO: configuring the workspace's IdP, its managed domains and group roles, and signing
people in from the IdP's responses.

Configuration changes take the workspace and the actor, check the policy
(``security.settings``), and write their audit entry in their own transaction; payloads
carry certificate fingerprints, never key material. A refused sign-in raises ``SamlRefused``
with a machine reason, recorded as ``auth.sso_refused`` — never with the assertion.
"""

import base64
import binascii
import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from audit.exceptions import AuditLockedError
from audit.services import audit_record
from tracklayer import http, keyring
from tracklayer.exceptions import ConflictError, DomainError
from workspaces import policy
from workspaces.actors import SystemActor
from workspaces.models import GroupRole, Membership, Role, User, Workspace
from workspaces.policy import Action
from workspaces.scim import services as scim_services
from workspaces.selectors import role_for_groups
from workspaces.services import admins_lock, is_last_admin
from workspaces.sso import saml
from workspaces.sso.models import (
    ManagedDomain,
    SamlAssertionSeen,
    SamlConfig,
    SamlRequest,
    sp_key_context,
)

logger = logging.getLogger("tracklayer.security")

#: The actor of what a sign-in changes on its own (JIT memberships, role updates, refusals).
SSO_ACTOR = SystemActor("sso")

MAX_RESPONSE_BYTES = 512 * 1024  # base64 of a SAMLResponse, far above any real one
MAX_METADATA_BYTES = 1024 * 1024
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


# --- The service provider's key ---------------------------------------------------------------


def sp_config_ensure(*, workspace: Workspace) -> SamlConfig:
    """The workspace's SAML row, with the SP's key and certificate made on first use (no IdP
    yet, not enabled). Idempotent; two concurrent first calls make one key."""
    config = SamlConfig.objects.filter(workspace=workspace).select_related("workspace").first()
    if config is not None and config.sp_certificate:
        return config
    with transaction.atomic():
        config, _ = SamlConfig.objects.select_for_update().get_or_create(workspace=workspace)
        if not config.sp_certificate:
            key_pem, cert_pem = saml.sp_keypair_generate(f"TrackLayer SP {workspace.public_id}")
            config.sp_private_key = keyring.encrypt(
                key_pem.encode(), context=sp_key_context(config)
            )
            config.sp_certificate = cert_pem
            config.save(update_fields=["sp_private_key", "sp_certificate", "updated_at"])
    config.workspace = workspace
    return config


def sp_private_key(config: SamlConfig) -> str:
    return keyring.decrypt(config.sp_private_key, context=sp_key_context(config)).decode()


# --- Configuration ----------------------------------------------------------------------------


def metadata_fetch(url: str) -> str:
    """The IdP's metadata from ``url``, through the egress policy (``tracklayer.http``)."""
    if not url.startswith("https://") and not getattr(settings, "SAML_METADATA_HTTP", False):
        raise DomainError("The metadata URL must use https.", field="idp_metadata_url")
    http.validate_url(url, field="idp_metadata_url")
    result = http.request("GET", url, timeout=10.0, max_bytes=MAX_METADATA_BYTES)
    if result.failure or result.status is None:
        raise DomainError(
            f"The metadata could not be fetched ({result.error or result.failure}).",
            field="idp_metadata_url",
        )
    if result.status != 200:
        raise DomainError(f"The metadata URL answered {result.status}.", field="idp_metadata_url")
    return result.body.decode("utf-8", "replace")


def _https_url(value: str, *, field: str, required: bool) -> str:
    value = (value or "").strip()
    if not value:
        if required:
            raise DomainError("This URL is required.", field=field)
        return ""
    if not value.startswith("https://") or len(value) > 1024 or " " in value:
        raise DomainError("The URL must be an https:// URL.", field=field)
    return value


def _break_glass(workspace: Workspace, value) -> User | None:
    """The break-glass account: an admin of the workspace with MFA, by user or public id."""
    if value in (None, ""):
        return None
    user = value if isinstance(value, User) else User.objects.filter(public_id=value).first()
    role = Membership.objects.filter(workspace=workspace, user=user).values_list("role", flat=True)
    if user is None or list(role) != [Role.ADMIN]:
        raise DomainError(
            "The break-glass account must be an admin of this workspace.", field="break_glass_user"
        )
    if not is_mfa_enabled(user):
        raise DomainError("The break-glass account must have MFA set up.", field="break_glass_user")
    return user


def _cert_payload(pem: str) -> str | None:
    return saml.certificate_summary(pem)["sha256"] if pem else None


@transaction.atomic
def saml_configure(
    *,
    workspace: Workspace,
    actor,
    idp_metadata: str | None = None,
    idp_metadata_url: str | None = None,
    idp_entity_id: str | None = None,
    idp_sso_url: str | None = None,
    idp_slo_url: str | None = None,
    idp_certificate: str | None = None,
    idp_certificate_next: str | None = None,
    allow_sha1: bool | None = None,
    idp_initiated: bool | None = None,
    email_attribute: str | None = None,
    groups_attribute: str | None = None,
    jit: bool | None = None,
    default_role: str | None = None,
    break_glass_user=None,
) -> SamlConfig:
    """Configure (or reconfigure) the workspace's IdP and enable SSO. The IdP comes from its
    metadata (``idp_metadata`` XML, or ``idp_metadata_url`` fetched through the egress
    policy) and/or its fields, which win over the metadata; fields left ``None`` keep their
    value. ``break_glass_user`` is a user or public id, ``""`` to clear it. Audited as
    ``sso.configured`` with what changed (certificates by fingerprint)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    sp_config_ensure(workspace=workspace)
    config = (
        SamlConfig.objects.select_for_update().select_related("workspace").get(workspace=workspace)
    )
    if idp_metadata_url:
        idp_metadata = metadata_fetch(idp_metadata_url.strip())
    new: dict = {}
    if idp_metadata:
        if len(idp_metadata) > MAX_METADATA_BYTES:
            raise DomainError("The metadata is too large.", field="idp_metadata")
        parsed = saml.metadata_parse(idp_metadata)
        if len(parsed.certificates) > 2:
            raise DomainError(
                "The metadata lists more than two signing certificates.", field="idp_metadata"
            )
        new.update(
            idp_entity_id=parsed.entity_id,
            idp_sso_url=_https_url(parsed.sso_url, field="idp_metadata", required=True),
            idp_slo_url=_https_url(parsed.slo_url, field="idp_metadata", required=False),
            idp_certificate=parsed.certificates[0],
            idp_certificate_next=parsed.certificates[1] if len(parsed.certificates) > 1 else "",
        )
    if idp_entity_id is not None:
        if not idp_entity_id.strip() or len(idp_entity_id) > 1024:
            raise DomainError("The IdP's entity id is required.", field="idp_entity_id")
        new["idp_entity_id"] = idp_entity_id.strip()
    if idp_sso_url is not None:
        new["idp_sso_url"] = _https_url(idp_sso_url, field="idp_sso_url", required=True)
    if idp_slo_url is not None:
        new["idp_slo_url"] = _https_url(idp_slo_url, field="idp_slo_url", required=False)
    if idp_certificate is not None:
        new["idp_certificate"] = saml.certificate_normalize(
            idp_certificate, field="idp_certificate"
        )
    if idp_certificate_next is not None:
        new["idp_certificate_next"] = (
            saml.certificate_normalize(idp_certificate_next, field="idp_certificate_next")
            if idp_certificate_next.strip()
            else ""
        )
    for name, value in (("allow_sha1", allow_sha1), ("idp_initiated", idp_initiated), ("jit", jit)):
        if value is not None:
            new[name] = bool(value)
    for name, value in (
        ("email_attribute", email_attribute),
        ("groups_attribute", groups_attribute),
    ):
        if value is not None:
            value = value.strip()
            if len(value) > 256 or (name == "groups_attribute" and not value):
                raise DomainError("Give an attribute name (at most 256 characters).", field=name)
            new[name] = value
    if default_role is not None:
        if default_role not in Role.values:
            raise DomainError(f"Unknown role {default_role!r}.", field="default_role")
        new["default_role"] = default_role
    if break_glass_user is not None:
        new["break_glass_user"] = _break_glass(workspace, break_glass_user)

    merged = {
        name: new.get(name, getattr(config, name))
        for name in ("idp_entity_id", "idp_sso_url", "idp_certificate")
    }
    if not merged["idp_entity_id"]:
        raise DomainError("The IdP's entity id is required.", field="idp_entity_id")
    if not merged["idp_sso_url"]:
        raise DomainError("The IdP's sign-on URL is required.", field="idp_sso_url")
    if not merged["idp_certificate"]:
        raise DomainError("The IdP's signing certificate is required.", field="idp_certificate")

    changes = {}
    for name, value in new.items():
        before = getattr(config, name)
        if before == value:
            continue
        setattr(config, name, value)
        if name.startswith("idp_certificate"):
            changes[name] = {"before": _cert_payload(before), "after": _cert_payload(value)}
        elif name == "break_glass_user":
            changes[name] = {
                "before": before.public_id if before else None,
                "after": value.public_id if value else None,
            }
        else:
            changes[name] = {"before": before, "after": value}
    if not config.enabled:
        config.enabled = True
        changes["enabled"] = {"before": False, "after": True}
    if not changes:
        return config
    config.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="sso.configured",
        resource_type="saml_config",
        resource_id=workspace.public_id,
        payload={"changes": changes},
    )
    return config


@transaction.atomic
def saml_disable(*, workspace: Workspace, actor) -> SamlConfig | None:
    """Turn SSO off (and with it enforcement, which would otherwise lock people out). The IdP's
    values are kept for turning it on again. Audited as ``sso.disabled``."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    config = SamlConfig.objects.select_for_update().filter(workspace=workspace).first()
    if config is None or not config.enabled:
        return config
    config.enabled = False
    enforced = config.enforce
    config.enforce = False
    config.save(update_fields=["enabled", "enforce", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="sso.disabled",
        resource_type="saml_config",
        resource_id=workspace.public_id,
        payload={"enforce": {"before": enforced, "after": False}},
    )
    return config


def domain_normalize(value: str) -> str:
    """A managed domain in lower case without a trailing dot; refused unless it looks like a
    registrable host name (letters, digits, hyphens; at least two labels)."""
    domain = (value or "").strip().lower().rstrip(".")
    if domain.startswith("@"):
        domain = domain[1:]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise DomainError(f"{value!r} is not a domain name.", field="domains") from None
    if not _DOMAIN.match(domain):
        raise DomainError(f"{value!r} is not a domain name (like example.com).", field="domains")
    return domain


@transaction.atomic
def managed_domains_set(*, workspace: Workspace, actor, domains, enforce: bool) -> list[str]:
    """Make ``domains`` the workspace's managed domains and set enforcement. A domain another
    workspace manages is refused (409); enforcement needs SSO configured. Audited as
    ``sso.domains_changed`` (added, removed, enforcement before and after)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    wanted = sorted({domain_normalize(d) for d in domains if d and d.strip()})
    if len(wanted) > 50:
        raise DomainError("At most 50 managed domains.", field="domains")
    taken = list(
        ManagedDomain.objects.filter(domain__in=wanted)
        .exclude(workspace=workspace)
        .values_list("domain", flat=True)
    )
    if taken:
        raise ConflictError(
            f"{', '.join(sorted(taken))} is managed by another workspace.", field="domains"
        )
    sp_config_ensure(workspace=workspace)
    config = SamlConfig.objects.select_for_update().get(workspace=workspace)
    if enforce and not config.enabled:
        raise DomainError("Configure the identity provider before enforcing SSO.", field="enforce")
    if enforce and not wanted:
        raise DomainError("Enforcement needs at least one managed domain.", field="enforce")
    current = set(
        ManagedDomain.objects.select_for_update()
        .filter(workspace=workspace)
        .values_list("domain", flat=True)
    )
    added, removed = sorted(set(wanted) - current), sorted(current - set(wanted))
    if not added and not removed and config.enforce == bool(enforce):
        return wanted
    ManagedDomain.objects.filter(workspace=workspace, domain__in=removed).delete()
    try:
        with transaction.atomic():
            ManagedDomain.objects.bulk_create(
                [ManagedDomain(workspace=workspace, domain=d) for d in added]
            )
    except IntegrityError:
        raise ConflictError(
            "One of these domains is managed by another workspace.", field="domains"
        ) from None
    before = config.enforce
    config.enforce = bool(enforce)
    config.save(update_fields=["enforce", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="sso.domains_changed",
        resource_type="saml_config",
        resource_id=workspace.public_id,
        payload={
            "added": added,
            "removed": removed,
            "enforce": {"before": before, "after": config.enforce},
        },
    )
    return wanted


@transaction.atomic
def group_roles_set(
    *, workspace: Workspace, actor, mapping: dict[str, str], default_role: str
) -> None:
    """Replace the IdP group → role mapping (the one SAML and SCIM share) and the role of a
    person none of whose groups is mapped. Audited as ``sso.group_roles_changed``."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    if default_role not in Role.values:
        raise DomainError(f"Unknown role {default_role!r}.", field="default_role")
    clean: dict[str, str] = {}
    for group, role in mapping.items():
        group = (group or "").strip()
        if not group or len(group) > 256:
            raise DomainError("A group name is 1 to 256 characters.", field="mapping")
        if role not in Role.values:
            raise DomainError(f"Unknown role {role!r} for group {group!r}.", field="mapping")
        clean[group] = role
    sp_config_ensure(workspace=workspace)
    config = SamlConfig.objects.select_for_update().get(workspace=workspace)
    before = dict(
        GroupRole.objects.select_for_update()
        .filter(workspace=workspace)
        .values_list("group", "role")
    )
    if before == clean and config.default_role == default_role:
        return
    GroupRole.objects.filter(workspace=workspace).exclude(group__in=list(clean)).delete()
    for group, role in clean.items():
        GroupRole.objects.update_or_create(
            workspace=workspace, group=group, defaults={"role": role}
        )
    before_default = config.default_role
    config.default_role = default_role
    config.save(update_fields=["default_role", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="sso.group_roles_changed",
        resource_type="saml_config",
        resource_id=workspace.public_id,
        payload={
            "mapping": {"before": before, "after": clean},
            "default_role": {"before": before_default, "after": default_role},
        },
    )
    # The mapping is SCIM's too: its provisioned members take their new roles now (movers).
    scim_services.scim_roles_sync(workspace=workspace, actor=actor)


# --- Signing in -------------------------------------------------------------------------------


class SamlRefused(DomainError):
    """A sign-in the SP refused; ``reason`` is the machine reason the audit log records."""

    code = "sso_refused"
    status = 403

    def __init__(self, reason: str, *, status: int = 403):
        super().__init__(REFUSALS.get(reason, REFUSALS["invalid"]))
        self.reason = reason
        self.status = status


REFUSALS = {
    "not_configured": "Single sign-on is not set up for this workspace.",
    "malformed": "The identity provider's answer could not be read.",
    "unsigned": "The identity provider's answer was not signed as required (both the response "
    "and its assertion must be signed).",
    "bad_signature": "The identity provider's signature did not verify with its configured "
    "certificate.",
    "sha1": "The identity provider signed with SHA-1, which this workspace does not allow.",
    "audience": "The assertion was meant for another service provider.",
    "recipient": "The assertion was meant for another address.",
    "destination": "The response was sent to another address.",
    "in_response_to": "This sign-in was not started here, or it took too long. Start again.",
    "expired": "The assertion has expired. Sign in again.",
    "not_yet_valid": "The assertion is not valid yet (check the clocks).",
    "replay": "This assertion was already used.",
    "issuer": "The answer came from another identity provider.",
    "idp_error": "The identity provider did not sign you in.",
    "no_name_id": "The assertion names nobody.",
    "no_email": "The assertion carries no valid e-mail address.",
    "encrypted": "Encrypted assertions are not supported.",
    "domain_not_managed": "Your e-mail domain is not managed by this workspace.",
    "not_member": "You are not a member of this workspace.",
    "inactive": "This account is deactivated.",
    "locked": "This workspace's audit log is locked, so no one can join or change role "
    "through single sign-on until an admin lifts the lock.",
    "logout": "The identity provider's sign-out message is not valid (unsigned, or not ours).",
    "invalid": "The identity provider's answer is not valid.",
}


@dataclass(frozen=True)
class SignIn:
    user: User
    membership: Membership
    redirect_to: str
    created: bool
    session_index: str | None = None  # the IdP's session, for single logout


def _enabled_config(workspace: Workspace) -> SamlConfig:
    config = (
        SamlConfig.objects.filter(workspace=workspace, enabled=True)
        .select_related("workspace")
        .first()
    )
    if config is None:
        raise SamlRefused("not_configured", status=404)
    return config


def safe_next(url: str | None) -> str:
    """``url`` when it is a path on this site, else ``""``: RelayState and ``next`` never
    send anyone elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return ""
    return url if url_has_allowed_host_and_scheme(url, allowed_hosts=set()) else ""


@transaction.atomic
def saml_login_start(*, workspace: Workspace, next_url: str | None) -> str:
    """The IdP URL to redirect to (HTTP-Redirect binding, signed AuthnRequest); the request's
    id is remembered for its response (``SAML_REQUEST_LIFETIME_SECONDS``)."""
    config = _enabled_config(workspace)
    auth = OneLogin_Saml2_Auth(
        _request_data(config, post_data={}),
        saml.toolkit_settings(config, sp_private_key=sp_private_key(config)),
    )
    url = auth.login(return_to=safe_next(next_url) or None)
    SamlRequest.objects.create(
        workspace=workspace,
        request_id=auth.get_last_request_id(),
        expires_at=timezone.now() + dt.timedelta(seconds=saml.request_lifetime()),
    )
    return url


def _request_data(config: SamlConfig, *, post_data: dict) -> dict:
    """The request as python3-saml sees it: always the ACS URL of our configured base URL, so
    the recipient and destination checks do not depend on the Host header or a proxy."""
    acs = urlsplit(saml.sp_urls(config.workspace.slug)["acs_url"])
    return {
        "https": "on" if acs.scheme == "https" else "off",
        "http_host": acs.netloc,
        "script_name": acs.path,
        "get_data": {},
        "post_data": post_data,
    }


def saml_sign_in(*, workspace: Workspace, saml_response: str, relay_state: str = "") -> SignIn:
    """Validate the IdP's response and sign the person in: JIT-provision the member (role from
    the group mapping, else the default role), or update an existing member's role. A refusal
    is recorded as ``auth.sso_refused`` (reason only) and raised as ``SamlRefused``."""
    try:
        try:
            with transaction.atomic():
                return _sign_in(
                    workspace=workspace, saml_response=saml_response, relay_state=relay_state
                )
        except AuditLockedError:
            # Under the audit log's advisory lock, what grants or changes access (a JIT
            # membership, a role from the groups) is refused; plain sign-ins go on (queued).
            raise SamlRefused("locked") from None
    except SamlRefused as refusal:
        if refusal.reason != "not_configured":  # nothing here to audit
            _record_refusal(workspace, refusal.reason)
        raise


def _refusals_audited_per_minute() -> int:
    return int(getattr(settings, "SAML_REFUSALS_AUDITED_PER_MINUTE", 60))


def _refusal_budget(workspace: Workspace) -> bool:
    """Whether this refusal may still be written to the workspace's log this minute: the ACS
    is open to anyone, and a flood of garbage must not fill a customer's audit log."""
    key = f"sso-refusals:{workspace.public_id}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        return cache.incr(key) <= _refusals_audited_per_minute()
    except ValueError:  # the key expired between add and incr
        return True


def _record_refusal(workspace: Workspace, reason: str) -> None:
    if not _refusal_budget(workspace):
        logger.warning(
            "SSO refusal not audited: over the per-minute budget",
            extra={"workspace": workspace.public_id, "reason": reason},
        )
        return
    try:
        with transaction.atomic():
            audit_record(
                workspace=workspace,
                actor=SSO_ACTOR,
                event_type="auth.sso_refused",
                resource_type="saml_config",
                resource_id=workspace.public_id,
                payload={"reason": reason, "method": "saml"},
            )
    except AuditLockedError:
        # Until auth.sso_refused waits out the lock like auth.sign_in_failed, the refusal is
        # logged for operators instead (the page still says why).
        logger.warning(
            "SSO refusal not audited: the audit log is locked",
            extra={"workspace": workspace.public_id, "reason": reason},
        )


def _sign_in(*, workspace: Workspace, saml_response: str, relay_state: str) -> SignIn:
    config = _enabled_config(workspace)
    if not saml_response or len(saml_response) > MAX_RESPONSE_BYTES:
        raise SamlRefused("malformed", status=400)
    try:
        base64.b64decode(saml_response, validate=False)
    except (binascii.Error, ValueError):
        raise SamlRefused("malformed", status=400) from None
    toolkit = saml.toolkit_settings(config, sp_private_key=sp_private_key(config))
    try:
        response = OneLogin_Saml2_Response(toolkit, saml_response)
    except Exception:  # (any parse failure: not a SAML response)
        raise SamlRefused("malformed", status=400) from None

    in_response_to = response.get_in_response_to()
    issued = None
    if in_response_to is None:
        if not (config.idp_initiated and saml.idp_initiated_allowed()):
            raise SamlRefused("in_response_to")
    else:
        issued = (
            SamlRequest.objects.select_for_update()
            .filter(workspace=workspace, request_id=in_response_to, expires_at__gt=timezone.now())
            .first()
        )
        if issued is None:
            raise SamlRefused("in_response_to")

    try:
        response.is_valid(
            _request_data(config, post_data={"SAMLResponse": saml_response}),
            request_id=in_response_to,
            raise_exceptions=True,
        )
    except Exception as error:  # (python3-saml's validation and parse errors)
        reason = saml.reason_for(error)
        if reason == "recipient":
            reason = _confirmation_reason(response)
        raise SamlRefused(reason) from None
    not_on_or_after = _stricter_checks(config, response)

    email, groups = _identity(config, response)
    assertion_id = response.get_assertion_id()
    if issued is not None:
        issued.delete()  # consumed: its response cannot come twice
    try:
        with transaction.atomic():
            SamlAssertionSeen.objects.create(
                workspace=workspace, assertion_id=assertion_id, expires_at=not_on_or_after
            )
    except IntegrityError:
        raise SamlRefused("replay") from None

    user, membership, created = _provision(config, email=email, groups=groups)
    audit_record(
        workspace=workspace,
        actor=user,
        event_type="auth.sign_in_succeeded",
        resource_type="user",
        resource_id=user.public_id,
        payload={"method": "saml"},
    )
    redirect_to = safe_next(relay_state) or reverse("monitoring:overview", args=[workspace.slug])
    return SignIn(
        user=user,
        membership=membership,
        redirect_to=redirect_to,
        created=created,
        session_index=response.get_session_index(),
    )


def _stricter_checks(config: SamlConfig, response) -> dt.datetime:
    """What python3-saml checks loosely or only when present: the Destination, the audience and
    every bearer Recipient must be exactly ours, and the conditions hold within our skew
    (``SAML_CLOCK_SKEW_SECONDS``). Returns until when the assertion id must be remembered."""
    urls = saml.sp_urls(config.workspace.slug)
    if response.document.get("Destination") != urls["acs_url"]:
        raise SamlRefused("destination")
    audiences = response.get_audiences()
    if not audiences or any(a != urls["entity_id"] for a in audiences):
        raise SamlRefused("audience")
    confirmations = response._query_assertion(
        "/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
    )
    if not confirmations or any(c.get("Recipient") != urls["acs_url"] for c in confirmations):
        raise SamlRefused("recipient")
    now, skew = OneLogin_Saml2_Utils.now(), saml.clock_skew()
    latest = None
    for conditions in response._query_assertion("/saml:Conditions"):
        not_before, not_after = conditions.get("NotBefore"), conditions.get("NotOnOrAfter")
        if not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) > now + skew:
            raise SamlRefused("not_yet_valid")
        if not_after:
            until = OneLogin_Saml2_Utils.parse_SAML_to_time(not_after)
            if until + skew <= now:
                raise SamlRefused("expired")
            latest = max(latest or until, until)
    for confirmation in confirmations:
        if confirmation.get("NotOnOrAfter"):
            until = OneLogin_Saml2_Utils.parse_SAML_to_time(confirmation.get("NotOnOrAfter"))
            latest = max(latest or until, until)
    if latest is None:
        raise SamlRefused("expired")  # an assertion without an end would be replayable forever
    return dt.datetime.fromtimestamp(latest + skew, tz=dt.UTC)


def _confirmation_reason(response) -> str:
    """Why no bearer confirmation was valid: its time window, else its recipient (for the
    refusal's reason only — the response is refused either way)."""
    now = OneLogin_Saml2_Utils.now()
    for data in response._query_assertion(
        "/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
    ):
        until, since = data.get("NotOnOrAfter"), data.get("NotBefore")
        if until and OneLogin_Saml2_Utils.parse_SAML_to_time(until) <= now:
            return "expired"
        if since and OneLogin_Saml2_Utils.parse_SAML_to_time(since) > now:
            return "not_yet_valid"
    return "recipient"


def _identity(config: SamlConfig, response) -> tuple[str, list[str]]:
    """The person's e-mail (the NameID when its format is emailAddress, else the configured
    attribute) and their groups (the configured attribute)."""
    attributes = response.get_attributes()
    if response.get_nameid_format() == OneLogin_Saml2_Constants.NAMEID_EMAIL_ADDRESS:
        email = response.get_nameid() or ""
    else:
        values = attributes.get(config.email_attribute) or [] if config.email_attribute else []
        email = values[0] if values else ""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise SamlRefused("no_email", status=400) from None
    groups = [g for g in attributes.get(config.groups_attribute) or [] if isinstance(g, str)]
    return email, groups


def _provision(config: SamlConfig, *, email: str, groups: list[str]):
    workspace = config.workspace
    domain = email.rsplit("@", 1)[1]
    # The IdP vouches only for the domains its workspace manages: a member elsewhere (or of
    # another workspace too) cannot be signed in by an IdP that does not own their domain.
    if not ManagedDomain.objects.filter(workspace=workspace, domain=domain).exists():
        raise SamlRefused("domain_not_managed")
    role = role_for_groups(workspace=workspace, groups=groups, default=config.default_role)
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and not user.is_active:
        raise SamlRefused("inactive")
    membership = (
        Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
        if user is not None
        else None
    )
    if membership is None:
        if not config.jit:
            raise SamlRefused("not_member")
        created = user is None
        if user is None:
            user = User.objects.create_user(email=email, password=None)
        membership = Membership.objects.create(workspace=workspace, user=user, role=role)
        audit_record(
            workspace=workspace,
            actor=SSO_ACTOR,
            event_type="member.joined",
            resource_type="user",
            resource_id=user.public_id,
            payload={"role": role, "invitation": None, "via": "saml"},
        )
        return user, membership, created
    if membership.role != role and not _last_admin(workspace, membership, role):
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            workspace=workspace,
            actor=SSO_ACTOR,
            event_type="member.role_changed",
            resource_type="user",
            resource_id=user.public_id,
            payload={"role": {"before": before, "after": role}, "via": "saml"},
        )
    return user, membership, False


def _last_admin(workspace: Workspace, membership: Membership, role: str) -> bool:
    """True when ``membership`` is the workspace's only admin and ``role`` would demote it:
    the IdP's groups never leave a workspace without an admin."""
    if membership.role != Role.ADMIN or role == Role.ADMIN:
        return False
    return is_last_admin(membership, admins_lock(workspace=workspace))


# --- Single logout (HTTP-Redirect binding, signed both ways) -----------------------------------


@transaction.atomic
def saml_logout_start(*, workspace: Workspace, user: User, session_index: str | None) -> str:
    """Where to send a person who signs out of an SSO session: the IdP's logout URL with a
    signed LogoutRequest (its id remembered for the IdP's answer), or ``""`` when the IdP has
    no logout URL."""
    config = (
        SamlConfig.objects.filter(workspace=workspace, enabled=True)
        .select_related("workspace")
        .first()
    )
    if config is None or not config.idp_slo_url:
        return ""
    auth = OneLogin_Saml2_Auth(
        _request_data(config, post_data={}),
        saml.toolkit_settings(config, sp_private_key=sp_private_key(config)),
    )
    url = auth.logout(
        name_id=user.email,
        name_id_format=OneLogin_Saml2_Constants.NAMEID_EMAIL_ADDRESS,
        session_index=session_index,
    )
    SamlRequest.objects.create(
        workspace=workspace,
        request_id=auth.get_last_request_id(),
        expires_at=timezone.now() + dt.timedelta(seconds=saml.request_lifetime()),
    )
    return url


@dataclass(frozen=True)
class Logout:
    redirect_to: str  # the IdP's URL (with our LogoutResponse) or our sign-in page
    end_session: bool  # whether this browser's session is to end


@transaction.atomic
def saml_logout_process(
    *, workspace: Workspace, get_data: dict, query_string: str, user: User | None
) -> Logout:
    """The IdP's signed answer to our LogoutRequest, or its own LogoutRequest (the person
    signed out elsewhere): a LogoutRequest ends this browser's session only when it names the
    person signed in here, and is answered with a signed LogoutResponse. Unsigned, foreign or
    unknown messages are refused (``SamlRefused``, reason ``logout``)."""
    config = _enabled_config(workspace)
    toolkit = saml.toolkit_settings(config, sp_private_key=sp_private_key(config))
    data = {
        key: get_data[key]
        for key in ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature")
        if key in get_data
    }
    # The signature is checked over the query string exactly as the IdP sent it (ADFS, for
    # one, percent-encodes in lower case).
    request_data = {
        **_request_data(config, post_data={}),
        "get_data": data,
        "query_string": query_string,
        "validate_signature_from_qs": True,
    }
    request_data["script_name"] = urlsplit(saml.sp_urls(workspace.slug)["sls_url"]).path
    request_id = None
    if "SAMLResponse" in data:
        try:
            answer = OneLogin_Saml2_Logout_Response(toolkit, data["SAMLResponse"])
            in_response_to = answer.document.get("InResponseTo")
        except Exception:  # (not a logout response)
            raise SamlRefused("logout", status=400) from None
        issued = (
            SamlRequest.objects.select_for_update()
            .filter(
                workspace=workspace, request_id=in_response_to or "", expires_at__gt=timezone.now()
            )
            .first()
        )
        if issued is None:
            raise SamlRefused("logout")
        request_id = in_response_to
    elif "SAMLRequest" not in data:
        raise SamlRefused("logout", status=400)
    ended = []
    named = []

    def end_session():
        ended.append(True)

    if "SAMLRequest" in data:
        try:
            named.append(
                OneLogin_Saml2_Logout_Request.get_nameid(
                    OneLogin_Saml2_Logout_Request(toolkit, data["SAMLRequest"]).get_xml()
                )
            )
        except Exception:  # (not a logout request)
            raise SamlRefused("logout", status=400) from None
    auth = OneLogin_Saml2_Auth(request_data, toolkit)
    try:
        url = auth.process_slo(request_id=request_id, delete_session_cb=end_session)
    except Exception:  # (python3-saml: no message, or one it cannot read)
        raise SamlRefused("logout", status=400) from None
    if auth.get_errors():
        raise SamlRefused("logout")
    if request_id is not None:
        SamlRequest.objects.filter(workspace=workspace, request_id=request_id).delete()
    matches = user is not None and named and (named[0] or "").lower() == user.email
    end = bool(ended) and (request_id is not None or matches)
    if end and user is not None:
        audit_record(
            workspace=workspace,
            actor=user,
            event_type="auth.sso_logout",
            resource_type="user",
            resource_id=user.public_id,
            payload={"initiated_by": "sp" if request_id else "idp"},
        )
    return Logout(redirect_to=url or reverse("account_login"), end_session=end)


@transaction.atomic
def saml_expired_purge() -> int:
    """Delete expired AuthnRequest ids and assertion ids of every workspace: the periodic
    task's work (beat's ``saml-expired-purge``), not the sign-in's — an expired request id is
    refused by its ``expires_at``, an expired assertion by its own NotOnOrAfter."""
    now = timezone.now()
    requests = SamlRequest.objects.filter(expires_at__lte=now).delete()[0]
    return requests + SamlAssertionSeen.objects.filter(expires_at__lte=now).delete()[0]


# --- Enforcement (the account adapter asks) ---------------------------------------------------


def break_glass_used(*, workspace: Workspace, user: User) -> None:
    """The break-glass admin signed in with a password while SSO is enforced. Never refused:
    under the audit log's advisory lock this is the admin who must reach "Lift the lock"."""
    try:
        with transaction.atomic():
            audit_record(
                workspace=workspace,
                actor=user,
                event_type="auth.break_glass_used",
                resource_type="user",
                resource_id=user.public_id,
                payload={"method": "password+mfa"},
            )
    except AuditLockedError:
        logger.warning(
            "break-glass sign-in not audited: the audit log is locked",
            extra={"workspace": workspace.public_id, "user": user.public_id},
        )
