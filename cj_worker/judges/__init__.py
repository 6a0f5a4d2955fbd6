"""Judges: who answers "which of these two is better?"."""
