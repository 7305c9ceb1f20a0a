"""Probes: one module per experiment; each scoring core works on plain arrays."""
