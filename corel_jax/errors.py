"""Exceptions for bad input that the CLI reports as one line (no traceback).

Each is also a standard exception type (``ValueError``, ``FileNotFoundError``), so library
callers can catch what they expect.
"""


class CorelError(Exception):
    """Base class: an error in the user's input, reported by the CLI as one line."""


class ConfigError(CorelError, ValueError):
    """An invalid configuration value (unknown name, lambda outside [0, 1], ...)."""


class DataError(CorelError, ValueError):
    """A data file is corrupt, truncated or holds invalid values."""


class MissingDataError(CorelError, FileNotFoundError):
    """A data file is missing."""


class DamagedFileError(DataError):
    """A file that corel-jax wrote is damaged (truncated, not the format it should be)."""


class IncompleteError(CorelError, RuntimeError):
    """A run directory (or stage) has not been written in full: its sweep is still running,
    or was interrupted (``corel-jax train --resume`` continues it)."""


class OwnershipError(CorelError, PermissionError):
    """A folder holds files that are not corel-jax's, or a finished sweep that would be
    replaced, or another process is writing it: nothing was touched."""
