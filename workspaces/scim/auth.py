"""The SCIM bearer token: ``Authorization: Bearer tlscim_…`` names the workspace. Anything
else — no header, another scheme, a malformed, unknown, wrong or revoked token, a deleted
workspace's token — is a 401 in SCIM's error schema; which of these it was is not told (nor
timed: a wrong secret and an unknown prefix both cost one SHA-256)."""

from workspaces.actors import ScimTokenActor
from workspaces.scim import tokens
from workspaces.scim.exceptions import unauthorized
from workspaces.scim.models import ScimToken
from workspaces.scim.services import scim_token_touch

REFUSED = "A valid SCIM token is required: Authorization: Bearer tlscim_…"


def scim_authenticate(header: str) -> tuple[ScimToken, ScimTokenActor]:
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized(REFUSED)
    parsed = tokens.parse_token(credentials.strip())
    if parsed is None:
        raise unauthorized(REFUSED)
    token = ScimToken.objects.filter(prefix=parsed.prefix).select_related("workspace").first()
    expected = token.secret_hash if token is not None else "0" * 64
    if not tokens.check_secret(parsed.secret, expected) or token is None:
        raise unauthorized(REFUSED)
    if token.revoked_at is not None or token.workspace.deleted_at is not None:
        raise unauthorized(REFUSED)
    scim_token_touch(token)
    return token, ScimTokenActor(
        token_id=token.pk, public_id=token.public_id, workspace_id=token.workspace_id
    )
