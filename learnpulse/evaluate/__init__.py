"""Offline evaluations: stream data through the same model code, test-then-train."""
