"""The errors ltt-hook raises on purpose: a setting that cannot be used, and a stop of pip."""

from __future__ import annotations

__all__ = ["ConfigError", "Stop"]


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names value and source."""


class Stop(Exception):
    """Marker base for an error that must reach pip as one ``ERROR:`` line (at patch time a
    subclass of pip's ``InstallationError`` is made of it: :class:`ltt_hook.process.PipProcess`)."""
