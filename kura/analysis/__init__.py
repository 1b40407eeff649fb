"""Readers of a finished run directory that answer questions about it (trends over time, ...)."""
