"""Bounded work per worker: beyond BROKER_MAX_IN_FLIGHT requests, a quick ``503 overloaded``.

A worker shares one core among every request it holds, so each request it takes on makes all
the others slower: past a point, taking more only turns a slow answer into a timeout for
everyone. A worker that already holds BROKER_MAX_IN_FLIGHT requests (being worked on or
waiting for the vendor) answers a further one at once, without running the app, with
``503 overloaded``, ``Retry-After`` and the broker's JSON error shape, and closes its
connection; a client (or load balancer) retries later or elsewhere.

The default, 512 per worker, is one to two seconds of work at the 2.5-4 ms of CPU a request
costs (``bench/RESULTS.md``). It leaves the design load (256 clients) room to land on one
worker twice over: a worker still counts the requests of clients that gave up waiting (their
vendor calls finish), and when 256 clients time out and reconnect at once, as a load
generator does between runs, a worker briefly holds both the abandoned and the new requests.
"""

from __future__ import annotations

from typing import Any

# Seconds a refused client should wait: a worker answers hundreds of requests a second.
OVERLOAD_RETRY_AFTER = 1


class Overloaded(Exception):
    """The worker already holds BROKER_MAX_IN_FLIGHT requests."""


class InFlight:
    """The requests one worker holds, admitted while fewer than ``bound``.

    Only ever used from one thread (the gevent hub's), so
    a plain counter suffices.
    """

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.count = 0
        self._refusals: Any = None

    def admit(self) -> bool:
        if self.count >= self.bound:
            self._count_refusal()
            return False
        self.count += 1
        return True

    def done(self) -> None:
        self.count -= 1

    def start_counting(self) -> None:
        """Create the refusal counter, so ``/metrics`` shows it at 0 before any refusal (an
        alert on its rate then has a series from the start).

        Called in the worker process once the app is loaded: gunicorn's master loads this
        module before a gevent worker patches the standard library, and prometheus_client
        must be imported after that, as the app imports it. In multiprocess mode
        (PROMETHEUS_MULTIPROC_DIR, set by gunicorn.conf.py) the count lands in this worker's
        files, and the app's GET /metrics sums it with everything else.
        """
        if self._refusals is None:
            from prometheus_client import Counter

            self._refusals = Counter(
                "broker_overload_refusals",
                "Requests answered 503 overloaded: the worker held BROKER_MAX_IN_FLIGHT.",
                # In no registry: its value reaches /metrics through this worker's files, and
                # the app's own registry must not see a second counter of the same name.
                registry=None,
            )

    def _count_refusal(self) -> None:
        self.start_counting()
        self._refusals.inc()
