"""Thin task shells: load state, call the core, persist, and send messages after commit."""
