"""User-facing errors: the CLI prints their message on one line and exits with ``exit_code``."""

from __future__ import annotations

__all__ = ["FlowError", "ModelError", "UnsupportedError"]


class FlowError(Exception):
    """A problem the user can fix (bad input, missing tool). Printed without a traceback."""

    exit_code = 2


class ModelError(FlowError):
    """The model file is malformed or breaks a convention (names the node and the fix)."""


class UnsupportedError(ModelError):
    """The model uses something fpga-flow does not support (yet)."""
