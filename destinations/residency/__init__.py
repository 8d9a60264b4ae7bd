"""Data residency: a workspace's data plane copied, verified and moved between databases
(docs/regions.md). ``services`` holds the operations, ``engine`` the one copy-and-verify engine,
``tables`` the data plane's tables in foreign-key order."""
