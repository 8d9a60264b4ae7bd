"""Tearing a deleted workspace down after its grace period (docs/workspace-lifecycle.md)."""
