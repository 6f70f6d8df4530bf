"""Errors of the simulated export API."""

from __future__ import annotations

__all__ = ["BadRequest", "SimulatorError"]


class SimulatorError(Exception):
    """Base class of simulator errors."""


class BadRequest(SimulatorError):
    """A request parameter is missing or invalid (answered with HTTP 400)."""
