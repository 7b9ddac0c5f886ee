"""Decides what the server does with one request: control call, fault, or vendor answer.

Kept apart from ``server.py`` so the transport only carries out an :class:`Outcome` and the
decisions can be read (and tested) without sockets.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_token_broker.sandbox_vendor.mindset import (
    MindsetStandin,
    StandinRequest,
    StandinResponse,
)
from standin.control import PREFIX, ControlApi
from standin.faults import FaultSwitch


@dataclass(slots=True)
class Outcome:
    """``response`` after ``delay`` seconds; no response means hang, or reset if ``reset``."""

    response: StandinResponse | None
    delay: float = 0.0
    reset: bool = False


class Router:
    def __init__(self, standin: MindsetStandin, faults: FaultSwitch, control: ControlApi) -> None:
        self.standin = standin
        self.faults = faults
        self.control = control

    def route(self, req: StandinRequest) -> Outcome:
        if req.path.startswith(PREFIX):
            return Outcome(self.control.handle(req))
        fault = self.faults.take()
        if fault is None:
            return Outcome(self.standin.handle(req), self.faults.latency_ms / 1000)
        if fault.mode == "slow":
            return Outcome(self.standin.handle(req, fault="slow"), fault.delay_ms / 1000)
        if fault.mode in ("hang", "reset"):
            self.standin.record(req, None, fault.mode)
            return Outcome(None, reset=fault.mode == "reset")
        response = fault.response()
        self.standin.record(req, response.status, fault.mode)
        return Outcome(response)
