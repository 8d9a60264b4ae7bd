from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The tamper-evident audit log: one append-only, hash-linked log per workspace."""

    name = "audit"
