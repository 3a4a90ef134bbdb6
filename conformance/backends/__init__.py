"""Adapters shipped with the suite; each imports its engine only when loaded."""
