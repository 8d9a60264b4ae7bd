from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    """Incidents, their timeline, containment actions and post-mortem."""

    name = "monitoring.incidents"
    label = "incidents"
