"""Access reviews' domain errors (mapped once, like every ``DomainError``)."""

from tracklayer.exceptions import DomainError


class AccessReviewInvalidError(DomainError):
    """Input that cannot be taken; ``field`` names it (the dashboard shows it there)."""

    code = "invalid_access_review"
    status = 400
