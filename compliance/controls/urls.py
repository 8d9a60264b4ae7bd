"""Compliance → Controls, under the workspace (the isolation test walks it)."""

app_name = "compliance"

urlpatterns: list = []
