"""Incidents' domain errors (mapped once, like every ``DomainError``)."""

from tracklayer.exceptions import DomainError


class IncidentInvalidError(DomainError):
    """Input that cannot be taken, field by field (``errors``: field → message); ``field``
    and ``message`` are the first, for the API's one-error answer."""

    code = "invalid_incident"
    status = 400

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = dict(errors)


def invalid(field: str, message: str) -> IncidentInvalidError:
    return IncidentInvalidError({field: message})
