"""SAML SSO per workspace: the identity provider it trusts, its own service provider key, the
domains it manages, and the short-lived rows that stop a response from being used twice.

Request ids and seen assertion ids are kept in database tables with an expiry (not Redis):
a consumed request is a deleted row, a replay is a unique-constraint violation, both inside
the sign-in's transaction; ``sso.services.saml_expired_purge`` (a periodic task) deletes
expired rows.
"""

from django.conf import settings
from django.db import models

from workspaces.models import Role, Workspace

# Entra ID sends groups under this claim; Okta (and our default) under ``groups``.
ENTRA_GROUPS_ATTRIBUTE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"


class SamlConfig(models.Model):
    """The workspace's service provider (its signing key, made on first use) and the identity
    provider it trusts. ``enabled`` is off until an IdP is configured and after a disable.

    Up to two IdP certificates are active at once, for a rollover: a response signed by
    either is accepted."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="saml")
    enabled = models.BooleanField(default=False)
    # The identity provider.
    idp_entity_id = models.CharField(max_length=1024, blank=True)
    idp_sso_url = models.URLField(max_length=1024, blank=True)
    idp_slo_url = models.URLField(max_length=1024, blank=True)
    idp_certificate = models.TextField(blank=True)  # PEM
    idp_certificate_next = models.TextField(blank=True)  # PEM, the second during a rollover
    allow_sha1 = models.BooleanField(default=False)
    idp_initiated = models.BooleanField(default=False)
    # Where the e-mail comes from when the NameID's format is not emailAddress.
    email_attribute = models.CharField(max_length=256, blank=True, default="email")
    groups_attribute = models.CharField(max_length=256, default="groups")
    jit = models.BooleanField(default=True)
    default_role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    enforce = models.BooleanField(default=False)
    break_glass_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The service provider: its key is sealed with the key ring (context ``saml-sp-key:ws_…``).
    sp_private_key = models.TextField(blank=True)
    sp_certificate = models.TextField(blank=True)  # PEM
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SAML configuration"

    def __str__(self) -> str:
        return f"SAML of {self.workspace}"

    @property
    def idp_certificates(self) -> list[str]:
        return [c for c in (self.idp_certificate, self.idp_certificate_next) if c]


def sp_key_context(config: SamlConfig) -> str:
    return f"saml-sp-key:{config.workspace.public_id}"


class ManagedDomain(models.Model):
    """An e-mail domain the workspace manages: its IdP vouches for these addresses, and with
    enforcement on they sign in only through SSO. A domain belongs to one workspace at most."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="managed_domains"
    )
    domain = models.CharField(max_length=253, unique=True)  # lower case, no trailing dot
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class SamlRequest(models.Model):
    """An AuthnRequest this workspace sent; the response's InResponseTo must name one, before
    it expires, and only once (the row is deleted when it is used)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    request_id = models.CharField(max_length=256, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.request_id


class SamlAssertionSeen(models.Model):
    """An assertion id already used to sign in, kept until the assertion expires."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=256)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "assertion_id"], name="saml_assertion_seen_once"
            )
        ]

    def __str__(self) -> str:
        return self.assertion_id
