"""Incidents: detect → contain → eradicate → review, with containment actions and a
post-mortem, every change audited."""
