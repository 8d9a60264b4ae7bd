"""API key authentication for the DRF API.

Accepted: ``Authorization: Bearer <key>`` and HTTP Basic with the key as user name and an
empty password (what Segment-style SDKs send). Every refusal is a 401 whose JSON body says
why: missing, malformed, invalid, revoked (or its workspace deleted) or expired; too many
failed attempts answer 429 ``api_key_throttled`` with ``Retry-After``.
"""

import base64

from django.utils import timezone
from rest_framework import authentication, exceptions

from workspaces import keys
from workspaces.api_key_cache import (
    api_key_cache_get,
    api_key_cache_matches,
    api_key_cache_put,
    api_key_from_entry,
    api_key_touch_allowed,
)
from workspaces.auth.throttle import (
    api_key_throttle_check,
    api_key_throttle_failed,
    api_key_throttle_verified,
    client_address,
)
from workspaces.exceptions import (
    ApiKeyError,
    ApiKeyExpiredError,
    ApiKeyInvalidError,
    ApiKeyMalformedError,
    ApiKeyMissingError,
    ApiKeyRevokedError,
    ApiKeyThrottledError,
)
from workspaces.models import ApiKey, Workspace


def api_key_authenticate(token: str, *, client_ip: str | None = None) -> ApiKey:
    """The key ``token`` names, verified; raises an ``ApiKeyError`` saying why not.

    Revoked and expired are only disclosed to a caller who presents the right secret. A secret
    that the verification cache vouches for costs no bcrypt; every other attempt costs exactly
    one bcrypt, whether the prefix exists or not, and is refused with ``ApiKeyThrottledError``
    instead once ``client_ip`` or the prefix has failed too often (workspaces/auth/throttle.py).
    """
    parsed = keys.parse_token(token)
    if parsed is None:
        raise ApiKeyMalformedError("The API key is malformed: expected tl_live_… or tl_test_….")
    digest = keys.secret_digest(parsed.secret)
    now = timezone.now()

    entry = api_key_cache_get(parsed.prefix)
    if entry is not None and api_key_cache_matches(
        entry, environment=parsed.environment, digest=digest
    ):
        key = api_key_from_entry(parsed.prefix, entry)
        if key.expires_at is not None and key.expires_at <= now:
            raise ApiKeyExpiredError("The API key has expired.")
        api_key_throttle_verified(prefix=parsed.prefix, client_ip=client_ip)
    else:
        # No entry, or one that does not vouch for this secret (another secret, another
        # environment, a digest made before SECRET_KEY changed): the database decides.
        api_key_throttle_check(prefix=parsed.prefix, client_ip=client_ip)
        try:
            key = _verify_from_database(parsed, now)
        except ApiKeyError:
            api_key_throttle_failed(prefix=parsed.prefix, client_ip=client_ip)
            raise
        api_key_cache_put(key, digest)
        api_key_throttle_verified(prefix=parsed.prefix, client_ip=client_ip, force=True)

    if api_key_touch_allowed(key.pk):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def _verify_from_database(parsed: keys.ParsedToken, now) -> ApiKey:
    key = ApiKey.objects.filter(prefix=parsed.prefix, environment=parsed.environment).first()
    if key is None:
        # As dear as a wrong secret, so the timing tells nobody which prefixes exist.
        keys.check_secret_against_nothing(parsed.secret)
        raise ApiKeyInvalidError("The API key is not valid.")
    if not keys.check_secret(parsed.secret, key.secret_hash):
        raise ApiKeyInvalidError("The API key is not valid.")
    # bcrypt took a while; re-read the state so a revocation (or the workspace's deletion)
    # that committed meanwhile is not put into the cache.
    key.refresh_from_db(fields=["revoked_at", "expires_at"])
    if key.revoked_at is not None:
        raise ApiKeyRevokedError("The API key has been revoked.")
    if _workspace_deleted(key):
        # As good as revoked; told only to a caller who presents the right secret.
        raise ApiKeyRevokedError("The API key's workspace has been deleted.")
    if key.expires_at is not None and key.expires_at <= now:
        raise ApiKeyExpiredError("The API key has expired.")
    return key


def _workspace_deleted(key: ApiKey) -> bool:
    """A deleted workspace's keys are refused (docs/workspace-lifecycle.md): its deletion
    empties their cache entries at commit, so only this, the database's answer, is asked."""
    return Workspace.objects.filter(pk=key.workspace_id, deleted_at__isnull=False).exists()


def token_from_header(header: str) -> str:
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return credentials.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise ApiKeyMalformedError("The Basic credentials are not valid base64.") from None
        user, _, _password = decoded.partition(":")
        return user
    raise ApiKeyMalformedError("Use 'Authorization: Bearer <key>' or Basic with the key as user.")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Sets ``request.auth`` to the ApiKey and ``request.user`` to None."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        try:
            if not header:
                raise ApiKeyMissingError("Send the API key as 'Authorization: Bearer <key>'.")
            key = api_key_authenticate(token_from_header(header), client_ip=client_address(request))
        except ApiKeyThrottledError as error:
            # 429 with Retry-After (DRF sets the header from ``wait``).
            raise exceptions.Throttled(
                wait=error.retry_after, detail=error.message, code=error.code
            ) from None
        except ApiKeyError as error:
            raise exceptions.AuthenticationFailed(error.message, code=error.code) from None
        return (None, key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tracklayer"'
