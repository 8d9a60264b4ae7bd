from tracklayer.exceptions import DomainError


class AuditError(DomainError):
    code = "audit_error"


class AuditPayloadError(AuditError):
    """A payload value that has no single canonical JSON form."""

    code = "audit_payload_invalid"
