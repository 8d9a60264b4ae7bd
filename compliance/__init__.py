"""Compliance (docs/evidence-center.md): controls mapped to live evidence, access reviews, the
destination inventory, the signed auditor package and public verification.

It sits above monitoring in the import layers: it only reads what the other apps record (the
audit log, members and keys, privacy requests, retention, incidents, destinations) and writes
its own records (access reviews, the public-verification opt-in) through its own services.
Inside, one way: package → controls → access reviews | inventory | public verification.
"""
