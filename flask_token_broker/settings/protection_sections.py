"""The sections that guard a token request: shared state in Redis, the vendor call's
deadline, retries and breaker, and the request guards (limits, origins, hosts, proxies)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .checks import (
    _redis_prefix,
    parse_allowed_hosts,
    parse_cors_origins,
    parse_rate_limit,
)
from .table import integer, seconds, text


@dataclass(frozen=True)
class RedisSettings:
    """How the broker uses ``BROKER_REDIS_URL``; Redis is never allowed to slow a request much."""

    prefix: str = text(
        "BROKER_REDIS_PREFIX",
        "tokenbroker",
        "first part of every Redis key the broker writes",
        parse=_redis_prefix,
    )
    timeout: float = seconds(
        "BROKER_REDIS_TIMEOUT",
        0.25,
        (
            "seconds to connect to Redis or get an answer, for shared tokens and "
            "coalescing, before falling back to per-instance state (rate-limit counters use"
            " a fixed 1 s)"
        ),
        maximum=10,
    )
    # After a Redis failure, per-instance state is used for this long before Redis is retried.
    retry_after: float = 5.0


@dataclass(frozen=True)
class ResilienceSettings:
    """How long a token request may take, and how hard the broker tries a failing vendor."""

    deadline: float = seconds(
        "BROKER_DEADLINE",
        8.0,
        (
            "seconds a token request may take at most, all vendor attempts, waits and "
            "timeouts included (max 60)"
        ),
        maximum=60,
    )
    retry_attempts: int = integer(
        "BROKER_RETRY_ATTEMPTS",
        3,
        (
            "vendor attempts per token request, the first included (1-5); only failures "
            "worth retrying repeat"
        ),
        minimum=1,
        maximum=5,
    )
    retry_after_cap: float = seconds(
        "BROKER_RETRY_AFTER_CAP",
        2.0,
        (
            "a vendor `Retry-After` up to this many seconds is waited out within the "
            "deadline; longer ones are passed on as `503`"
        ),
        maximum=30,
    )
    breaker_failures: int = integer(
        "BROKER_BREAKER_FAILURES",
        5,
        "consecutive failed token requests that open the circuit",
        minimum=1,
        maximum=1000,
    )
    breaker_cooldown: float = seconds(
        "BROKER_BREAKER_COOLDOWN",
        30.0,
        "seconds the circuit stays open before one probe is let through",
        maximum=3600,
    )


@dataclass(frozen=True)
class ProtectionSettings:
    """Who may call the token routes, how often, and from where."""

    rate_limit: str = text(
        "BROKER_RATE_LIMIT",
        "60/minute",
        (
            "per signed-in user, over all token routes; rate syntax of `limits`, as in "
            "Flask-Limiter (`30/minute`, `5 per hour`, `10/second;100/day`)"
        ),
        parse=partial(parse_rate_limit, "BROKER_RATE_LIMIT"),
    )
    rate_limit_per_ip: str = text(
        "BROKER_RATE_LIMIT_PER_IP",
        "600/minute",
        (
            "per client address, every request to token routes and the demo login, "
            "anonymous ones included"
        ),
        parse=partial(parse_rate_limit, "BROKER_RATE_LIMIT_PER_IP"),
    )
    ipv6_prefix: int = integer(
        "BROKER_RATE_LIMIT_IPV6_PREFIX",
        64,
        (
            "IPv6 addresses in one network of this prefix length (32 to 128) share one "
            "per-address budget; an IPv4-mapped IPv6 address counts as its IPv4 address"
        ),
        minimum=32,
        maximum=128,
    )
    proxy_hops: int = integer(
        "BROKER_PROXY_HOPS",
        0,
        (
            "trusted proxies in front of the broker whose `X-Forwarded-For/-Proto/-Host` "
            "are believed; `0` trusts none"
        ),
        maximum=10,
    )
    cors_origins: tuple[str, ...] = text(
        "BROKER_CORS_ORIGINS",
        (),
        (
            "comma-separated exact origins (`https://app.example.com`) other than the "
            "broker's own that may call the token routes from a browser; never a wildcard"
        ),
        parse=parse_cors_origins,
    )
    allowed_hosts: tuple[str, ...] = text(
        "BROKER_ALLOWED_HOSTS",
        (),
        (
            "comma-separated host names the broker answers for (`broker.example.com`; "
            "`.example.com` also allows subdomains), Flask's `TRUSTED_HOSTS`; any other "
            "`Host` is `400 invalid_host`; unset, any Host is taken (production warns)"
        ),
        parse=parse_allowed_hosts,
    )
