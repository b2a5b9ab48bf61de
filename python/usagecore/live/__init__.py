"""Handlers for payloads that arrive live (hooks, `notify`, plugins), one
module per agent; each registers itself with `usagecore.drain`."""
