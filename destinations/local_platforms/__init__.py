"""Local stand-ins for the ad platforms, for tests and for ``make run``'s demo.

Each platform's handler checks requests the way the real platform does (hashing, event age,
tokens, batch sizes) and answers with the platform's own error bodies. A control API makes
them fail on purpose: 5xx storms, timeouts, 429 with Retry-After. See server.py.
"""
