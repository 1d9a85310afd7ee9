"""Errors the engine raises.

All of them are ``ValueError`` subclasses so a caller that only wants "bad request" can catch one
type; the attributes let the API point at the column, row or parameter at fault.
"""

from __future__ import annotations


class EngineError(ValueError):
    """Base class of every error the engine raises on purpose."""


class InputError(EngineError):
    """Unusable data: wrong shape, non-numeric, missing values under "reject", too few rows."""

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.row = row


class ConfigError(EngineError):
    """An unknown algorithm or a parameter out of its allowed range."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ModelFormatError(EngineError):
    """A saved model that this version of the engine cannot or must not load."""
