"""Minting Mindset tokens for signed-in users: the one place that decides how a token is
obtained (reused, coalesced with a call in flight here or on another instance, or minted by a
guarded vendor call, :mod:`flask_token_broker.resilience.guarded`).

Coalescing inside one process (:class:`Coalescer`): concurrent callers with one key share one
call. The first caller for a key (the leader) runs the work; callers arriving while it runs
wait for its outcome, a value or an exception, and get the same one. Nothing is remembered
after the call ends: the next caller starts a new call, so a failure is shared, never cached.
It works with OS threads (``flask run``, a host's threaded server) and with gevent greenlets
(the production worker): ``threading.Event`` is looked up when a call starts, after gevent's
monkey-patching has replaced it with a cooperative one, and the lock only guards dictionary
operations that never yield.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..errors import BrokerError
from ..mindset.client import MindsetClient
from ..mindset.vendor_api import AuthRequest
from ..observability import redaction, telemetry
from ..resilience.guarded import GuardedCall
from ..settings import MindsetSettings, ResilienceSettings
from ..users import CurrentUser
from .identity import auth_request_for
from .reuse import LocalTokens, ReusePolicy, request_key
from .shared_state import Flight, Kept, SharedState

T = TypeVar("T")

# A waiter gives up on a leader that takes longer than this and does the work itself; the
# leader's own timeouts end its call well before, so this only guards against a lost leader.
DEFAULT_MAX_WAIT = 30.0


class _Call(Generic[T]):
    __slots__ = ("done", "error", "followers", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.followers = 0
        # Read only after the leader stored its value, so the initial one is never seen.
        self.value: T | None = None  # pragma: no mutate
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    """Single-flight calls keyed by a string."""

    def __init__(self, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def waiting(self, key: str) -> int:
        """How many callers are waiting on the call in flight for ``key``."""
        call = self._calls.get(key)
        return 0 if call is None else call.followers

    def run(self, key: str, work: Callable[[], T]) -> tuple[T, bool]:
        """``(value, shared)``: ``shared`` is true when another caller's call answered."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.followers += 1
        if leader:
            return self._lead(key, call, work), False
        if not call.done.wait(self.max_wait):
            return work(), False
        if call.error is not None:
            raise _copy_of(call.error)
        return call.value, True  # type: ignore[return-value]

    def _lead(self, key: str, call: _Call[T], work: Callable[[], T]) -> T:
        try:
            call.value = work()
            return call.value
        except BaseException as error:
            call.error = error
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()


def _copy_of(error: BaseException) -> BaseException:
    """Each waiter raises its own copy: one instance raised in many places grows one traceback."""
    try:
        duplicate = copy.copy(error)
    except Exception:
        return error
    duplicate.__cause__ = error.__cause__
    return duplicate.with_traceback(None)


# (token, how it was obtained: "minted" | "coalesced" | "reused")
Obtained = tuple[str, str]


class MindsetTokens:
    """Turns a signed-in user into a Mindset ``authToken``.

    Concurrent requests for the same vendor request share one call (in this process, and
    across instances through ``shared``); a token is handed out again only when
    :class:`~flask_token_broker.minting.reuse.ReusePolicy` says it is safe.
    """

    def __init__(
        self,
        client: MindsetClient,
        settings: MindsetSettings,
        resilience: ResilienceSettings | None = None,
        *,
        shared: SharedState | None = None,
        key_secret: bytes | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.resilience = resilience or ResilienceSettings()
        self.guarded_call = GuardedCall(client, self.resilience)
        self.shared = shared
        # Without a shared secret (SECRET_KEY), keys only need to agree within this process.
        # Any length of random secret would do as well as 32 bytes: no behaviour hangs on it.
        self.key_secret = key_secret or os.urandom(32)  # pragma: no mutate
        self.key_parts = (client.flavor, client.url, settings.app_uid)
        self.reuse = ReusePolicy(settings)
        self.local_tokens = LocalTokens()
        self.coalescer: Coalescer[Obtained] = Coalescer()
        # How long one instance may hold a shared flight: its guarded call is over by then.
        self.flight_seconds = self.resilience.deadline + 1.0

    def request_for(self, user: CurrentUser) -> AuthRequest:
        return auth_request_for(user, self.settings)

    def mint(self, user: CurrentUser) -> str:
        return self.mint_request(self.request_for(user))

    def key_for(self, request: AuthRequest) -> str:
        return request_key(self.key_secret, self.key_parts, request)

    def mint_request(self, request: AuthRequest) -> str:
        """A token for exactly this request: the one place that decides how it is obtained.

        A token still safe to reuse, else the outcome of the call in flight for the same
        request (here or on another instance), else a new vendor call.
        """
        key = self.key_for(request)
        if self.reuse.enabled:  # an attribute: read on every request
            kept = self.local_tokens.get(key)
            if kept is not None:
                redaction.request_secret(kept[0])
                telemetry.token_outcome("mindset", "reused")
                return kept[0]
        (token, outcome), shared = self.coalescer.run(key, lambda: self._obtain(key, request))
        if shared and outcome != "reused":
            outcome = "coalesced"
        # Whether minted, reused or another request's, the token is this request's credential:
        # masked in its log lines.
        redaction.request_secret(token)
        telemetry.token_outcome("mindset", outcome)
        return token

    def _obtain(self, key: str, request: AuthRequest) -> Obtained:
        """Run by one request per key and process at a time."""
        shared = self.shared
        if shared is None or not shared.usable:
            return self._mint(key, request), "minted"
        start = shared.begin(key, int(self.flight_seconds * 1000), reuse=self.reuse.enabled)
        if isinstance(start, Kept):
            self.local_tokens.put(key, start.token, start.until)
            return start.token, "reused"
        flight = start if start is not None and start.shared else None
        if flight is not None and not flight.leader:
            token = self._token_from(shared.await_flight(flight, self.flight_seconds))
            if token is not None:
                self._keep(key, token)
                return token, "coalesced"
            flight = None  # the leader vanished or Redis failed: mint here
        return self._mint(key, request, flight), "minted"

    def _mint(self, key: str, request: AuthRequest, flight: Flight | None = None) -> str:
        try:
            token = self.guarded_call(request)
        except Exception as error:
            self._finish(flight, _failure_of(error))
            raise
        until = self._keep(key, token)
        if until is not None and self.shared is not None:
            self.shared.put_token(key, token, until)
        self._finish(flight, {"token": token})
        return token

    def _keep(self, key: str, token: str) -> float | None:
        """Keep ``token`` in this process while it is safe to reuse; until when, if at all."""
        until = self.reuse.reusable_until(token, time.time())
        if until is not None:
            self.local_tokens.put(key, token, until)
        return until

    def _finish(self, flight: Flight | None, outcome: dict[str, Any]) -> None:
        """Tell the instances waiting on this one's flight how it ended, and release it."""
        if flight is not None and self.shared is not None:
            self.shared.finish_flight(flight, outcome)

    @staticmethod
    def _token_from(outcome: dict[str, Any] | None) -> str | None:
        """A shared flight's token; its failure is raised; ``None`` means "mint it yourself"."""
        if outcome is None:
            return None
        token = outcome.get("token")
        if isinstance(token, str):
            return token
        error_class = _shared_errors().get(str(outcome.get("error")))
        if error_class is None:
            return None
        retry_after = outcome.get("retry_after")
        raise error_class(
            log_hint="the vendor call made for this user by another broker instance failed; "
            "its log line says why",
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        )


def _failure_of(error: Exception) -> dict[str, Any]:
    """A failure as the waiting instances learn it: a :class:`BrokerError` they raise in turn;
    anything else (a bug here) as no outcome at all, so each of them calls the vendor itself."""
    if isinstance(error, BrokerError):
        return {"error": type(error).__name__, "retry_after": error.retry_after}
    return {}


def _shared_errors() -> dict[str, type[BrokerError]]:
    """The failures one instance may report to another, by class name."""
    found: dict[str, type[BrokerError]] = {}
    pending: list[type[BrokerError]] = [BrokerError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found
