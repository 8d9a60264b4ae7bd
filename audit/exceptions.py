from tracklayer.exceptions import DomainError


class AuditError(DomainError):
    code = "audit_error"


class AuditPayloadError(AuditError):
    """A payload value that has no single canonical JSON form."""

    code = "audit_payload_invalid"


class AuditIntegrityError(AuditError):
    """The stored log contradicts what was signed or computed before: never sign over it."""

    code = "audit_integrity_error"
    status = 409


class AuditProofRequestError(AuditError):
    """A proof asked for sizes or indices the log does not have."""

    code = "audit_proof_invalid_request"


class AuditLockedError(AuditError):
    """The workspace's log is under an advisory lock and the operation did not carry its key.
    Raised before anything is written: the change it would have recorded does not happen."""

    code = "advisory_lock_enabled"
    status = 403


class AdvisoryKeyInvalidError(AuditError):
    code = "advisory_key_invalid"
    status = 403
