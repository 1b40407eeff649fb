"""Analyses of a finished run: trends over time, outcomes per cluster."""
