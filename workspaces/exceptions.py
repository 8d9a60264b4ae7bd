from tracklayer.exceptions import ConflictError, DomainError


class LastAdminError(ConflictError):
    code = "last_admin"


class AlreadyMemberError(ConflictError):
    code = "already_member"


class InvitationInvalidError(DomainError):
    code = "invitation_invalid"


class ApiKeyError(DomainError):
    """Why a presented API key was refused. Each subclass has a stable code for clients."""

    code = "api_key_invalid"
    status = 401


class ApiKeyMissingError(ApiKeyError):
    code = "api_key_missing"


class ApiKeyMalformedError(ApiKeyError):
    code = "api_key_malformed"


class ApiKeyInvalidError(ApiKeyError):
    code = "api_key_invalid"


class ApiKeyRevokedError(ApiKeyError):
    code = "api_key_revoked"


class ApiKeyExpiredError(ApiKeyError):
    code = "api_key_expired"


class ApiKeyThrottledError(ApiKeyError):
    """Too many failed attempts from this address or for this key (workspaces/auth/throttle.py).
    Answered with 429 and ``Retry-After: retry_after``."""

    code = "api_key_throttled"
    status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
