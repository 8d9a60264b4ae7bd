"""Monitoring (docs/monitoring.md): the workspace overview, anomalies and incidents.

It sits above destinations in the import layers: it reads the event store's minute figures
(``destinations.metrics``) and takes containment actions through destinations' and
workspaces' services. Inside, one way: overview → anomalies → incidents.
"""
