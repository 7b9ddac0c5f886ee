"""What can go wrong when asking Mindset for a token.

Exception tree::

    MindsetError
    ├── MindsetUnavailable      worth retrying later: connection refused or reset,
    │   │                       5xx, 429 (``retry_after`` carries the vendor's Retry-After)
    │   └── MindsetTimeout      no connection, answer or whole body within the timeouts or the
    │                           deadline (``phase``: connect, read or deadline)
    ├── MindsetRejected         final: the vendor refused the request (401, 403, 404, other 4xx)
    └── MindsetBadResponse      a 2xx answer that holds no token, or a redirect (3xx, never
                                followed: ``status`` carries it)

Messages name the HTTP status and the broker setting to check, never the API key and never
the vendor's response body (which may echo request data).
"""

from __future__ import annotations

import email.utils
import time


class MindsetError(Exception):
    """Base of every failure of a Mindset call."""

    # The vendor's HTTP status when it answered one (0 for a TLS failure), else None.
    status: int | None = None


class MindsetUnavailable(MindsetError):
    """The vendor could not serve the call now; a later call may succeed."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class MindsetTimeout(MindsetUnavailable):
    """The vendor did not connect or answer within the configured timeout or the deadline.

    ``phase`` says how far the call got: ``connect`` (the request never reached the vendor, so
    repeating it is safe), ``read`` or ``deadline`` (the vendor may be working on it).
    """

    def __init__(self, message: str, *, phase: str = "read") -> None:
        super().__init__(message)
        self.phase = phase


class MindsetRejected(MindsetError):
    """The vendor refused the call; repeating it unchanged will fail the same way."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class MindsetBadResponse(MindsetError):
    """The vendor answered 2xx without a usable ``authToken``, or redirected the call."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


# Statuses that mean "not now" rather than "not ever".
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Of those, the ones worth repeating at once within a token request: the gateway and overload
# answers. A 500 is a vendor bug as often as an outage; repeating it only adds load.
RETRY_AT_ONCE_STATUSES = frozenset({429, 502, 503, 504})

_REJECTION_HINTS = {
    400: "the vendor refused the request body; check MINDSET_IDENTITY and MINDSET_ACCOUNT_UIDS",
    401: "the vendor saw no API key; check MINDSET_API_KEY",
    403: "the vendor refused the API key (invalid or deleted); check MINDSET_API_KEY",
    404: "the vendor does not know this app or path; check MINDSET_APP_UID and MINDSET_API_HOST",
}


def error_for_status(status: int, retry_after_header: str | None) -> MindsetError:
    """Map a non-2xx status to the exception that says what it means."""
    if status in RETRYABLE_STATUSES or status >= 500:
        return MindsetUnavailable(
            f"Mindset answered HTTP {status}",
            status=status,
            retry_after=parse_retry_after(retry_after_header),
        )
    hint = _REJECTION_HINTS.get(status, "check the broker's MINDSET_* settings")
    return MindsetRejected(f"Mindset answered HTTP {status}: {hint}", status=status)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
