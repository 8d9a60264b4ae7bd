"""SCIM's errors (RFC 7644 §3.12): a status, a ``scimType`` where the RFC names one, and a
detail a person can act on. Services raise them; the views render them in the error schema."""

from tracklayer.exceptions import DomainError


class ScimError(DomainError):
    code = "scim_error"

    def __init__(self, detail: str, *, status: int = 400, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type


def invalid_value(detail: str) -> ScimError:
    return ScimError(detail, status=400, scim_type="invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(detail, status=400, scim_type="invalidSyntax")


def invalid_filter(detail: str) -> ScimError:
    return ScimError(detail, status=400, scim_type="invalidFilter")


def invalid_path(detail: str) -> ScimError:
    return ScimError(detail, status=400, scim_type="invalidPath")


def no_target(detail: str) -> ScimError:
    return ScimError(detail, status=400, scim_type="noTarget")


def mutability(detail: str) -> ScimError:
    return ScimError(detail, status=400, scim_type="mutability")


def uniqueness(detail: str) -> ScimError:
    return ScimError(detail, status=409, scim_type="uniqueness")


def not_found(detail: str) -> ScimError:
    return ScimError(detail, status=404)


def unauthorized(detail: str) -> ScimError:
    return ScimError(detail, status=401)
