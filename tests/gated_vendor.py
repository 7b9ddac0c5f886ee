"""A vendor transport for concurrency tests: it records every call and holds answers at a gate.

Mounted on a broker's ``requests.Session``, it answers ``sdkusers/auth`` in memory, so the
whole production path (client, coalescing, reuse) runs, while the test decides exactly when
vendor answers are released and can wait until a given number of calls is in flight.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from flask import Flask
from requests.adapters import BaseAdapter

from flask_token_broker.state import current_broker

from .conftest import MINDSET_BASE

# Every wait in a test is bounded by this; a test waiting longer has failed.
WAIT = 10.0


def jwt_with_exp(exp: float, sub: str = "user") -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': sub, 'exp': exp})}.c2ln"


class GatedVendor(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.status = 200
        self.make_token: Callable[[int, dict[str, Any]], str] = lambda n, body: f"tok-{n}"
        self._changed = threading.Condition()
        self.in_flight = 0

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def wait_in_flight(self, count: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.in_flight >= count, WAIT):
                raise AssertionError(f"{count} vendor calls never were in flight at once")

    def send(
        self, request: requests.PreparedRequest, *options: Any, **named: Any
    ) -> requests.Response:
        """Answers in memory: the transport options (stream, timeout, verify...) do not apply."""
        body = json.loads(request.body or b"{}")
        with self._changed:
            self.calls.append(body)
            number = len(self.calls)
            self.in_flight += 1
            self._changed.notify_all()
        try:
            if not self.gate.wait(WAIT):
                raise AssertionError("the test never released the vendor")
        finally:
            with self._changed:
                self.in_flight -= 1
        response = requests.Response()
        response.status_code = self.status
        payload = {"authToken": self.make_token(number, body)} if self.status < 300 else {}
        response.raw = io.BytesIO(json.dumps(payload).encode())
        response.headers["Content-Type"] = "application/json"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def attach(app: Flask, vendor: GatedVendor) -> GatedVendor:
    with app.app_context():
        tokens = current_broker().mindset
        assert tokens is not None
        tokens.client.session.mount(MINDSET_BASE, vendor)
    return vendor


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)
