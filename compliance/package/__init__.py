"""The auditor package: a zip of evidence with a manifest signed by the workspace's audit key."""
