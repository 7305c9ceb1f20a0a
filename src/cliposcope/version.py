"""The package version, in the ground layer so every layer can record it."""

__version__ = "0.1.0"
