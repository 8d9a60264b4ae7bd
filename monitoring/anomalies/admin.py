from django.contrib import admin

from monitoring.anomalies.models import AlertSettings, Anomaly, KnownEventName, KnownProperty
from tracklayer.admin import ReadOnlyAdmin


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    """Read-only: anomalies change through the detectors and the dashboard's audited services."""

    list_display = ["public_id", "workspace", "kind", "subject", "severity", "status", "started_at"]
    list_filter = ["kind", "severity", "status"]
    list_select_related = ["workspace"]
    search_fields = ["public_id", "subject"]


@admin.register(AlertSettings)
class AlertSettingsAdmin(ReadOnlyAdmin):
    """Read-only; the webhook secret is sealed and never shown."""

    list_display = ["workspace", "webhook_url", "quiet_minutes", "min_severity", "updated_at"]
    exclude = ["webhook_secret_encrypted"]
    list_select_related = ["workspace"]


@admin.register(KnownEventName)
class KnownEventNameAdmin(ReadOnlyAdmin):
    """The event names each workspace has sent (schema drift's memory)."""

    list_display = ["workspace", "name", "first_seen", "last_seen"]
    list_select_related = ["workspace"]
    search_fields = ["name"]


@admin.register(KnownProperty)
class KnownPropertyAdmin(ReadOnlyAdmin):
    """The top-level properties (and their JSON types) each workspace's events carry."""

    list_display = ["workspace", "event", "name", "type", "first_seen", "last_seen"]
    list_select_related = ["workspace"]
    search_fields = ["event", "name"]
