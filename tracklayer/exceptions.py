"""Domain errors: exceptions with a stable code and a message a user can act on.

They are mapped once — to JSON by ``tracklayer.api.exception_handler`` and to dashboard
messages by the dashboard views — so services never think about HTTP.
"""


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    status = 403


class NotFoundError(DomainError):
    code = "not_found"
    status = 404


class ConflictError(DomainError):
    code = "conflict"
    status = 409
