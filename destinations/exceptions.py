from tracklayer.exceptions import DomainError


class PayloadTooLargeError(DomainError):
    code = "payload_too_large"
    status = 413


class RateLimitedError(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int):
        super().__init__(f"Too many events for this key; retry after {retry_after} s.")
        self.retry_after = retry_after


class InvalidBodyError(DomainError):
    """A body that is not JSON, not gzip, or not the shape the endpoint takes."""

    code = "invalid_body"
    status = 400

    def __init__(self, message: str, *, code: str = "invalid_body", field: str | None = None):
        super().__init__(message, field=field)
        self.code = code


class DestinationInvalidError(DomainError):
    """A destination's settings that cannot work, field by field (``errors``: field →
    message); ``field`` and ``message`` are the first, for the API's one-error answer. The
    messages never repeat a secret's value."""

    code = "invalid_destination"
    status = 400

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = dict(errors)
