"""Benchmarks: ``make bench`` (``python -m tests.bench``) prints figures; it asserts nothing.

They run against a PostgreSQL database of their own (``tracklayer_bench``, created fresh and
dropped at the end, since audit rows cannot be deleted) and Redis database 13, so they never
touch the data of ``make run`` or of a test run going on at the same time.

Nothing in this file imports Django: ``__main__`` must point the settings at those databases
before they load.
"""
