"""Kura 0.5.0 kept its procedural API under ``kura.v1``."""
