"""Convergence harness: synthetic nets through the engine's own pairing, BT and decision."""
