"""Compliance → Controls: each SOC 2 / ISO 27001 control with its live evidence and status."""
