"""The bundled simulated shop backend: a seeded shop, labelled scenarios, the export API."""

from __future__ import annotations

from simulator.faults import Fault
from simulator.incidents import ALERTNAMES, Defect, Incident
from simulator.scenarios import SCENARIOS, Scenario
from simulator.simulation import Simulator
from simulator.spec import ANCHOR, MID_SIZE, ShopSpec
from simulator.timeline import SOURCES

__all__ = [
    "ALERTNAMES",
    "ANCHOR",
    "MID_SIZE",
    "SCENARIOS",
    "SOURCES",
    "Defect",
    "Fault",
    "Incident",
    "Scenario",
    "ShopSpec",
    "Simulator",
]
