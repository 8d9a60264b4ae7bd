"""The destination inventory: what leaves, to whom, on what basis (CSV and JSON)."""
