"""A resolver the host provides: ``BROKER_USER_RESOLVER=package.module:function``, or the
``resolver=`` argument of :class:`~flask_token_broker.TokenBroker`
when the broker is mounted in a host.

The callable is imported once, at start-up, so a typo stops the broker before it serves; it is
then called inside each request and returns a mapping with ``id`` (and optionally ``email`` and
``name``), a :class:`CurrentUser`, or ``None`` when nobody is signed in.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BrokerError, UserResolverFailed
from ..settings import ConfigError, Settings
from . import MAX_FIELD_LENGTH, CurrentUser, UserResolver, _blank, user_from_mapping

HostResolver = Callable[[], Any]
log = logging.getLogger("broker.users")


def import_callable(path: str) -> HostResolver:
    """Import ``package.module:function`` (attributes may be dotted: ``module:obj.method``)."""
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"BROKER_USER_RESOLVER: cannot import module {module_name!r} "
            f"({type(error).__name__}); is it on PYTHONPATH or in the working directory?"
        ) from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise ConfigError(
                f"BROKER_USER_RESOLVER: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(target):
        raise ConfigError(f"BROKER_USER_RESOLVER: {path} is not callable")
    return target  # type: ignore[no-any-return]


def check_resolver_import(settings: Settings) -> None:
    """``BROKER_USER_RESOLVER=package.module:function`` imports here, or ConfigError saying why."""
    # Set for a custom resolver only: the broker's own resolvers have nothing to import.
    path = settings.users.callable_path
    if path is not None:
        import_callable(path)


def custom_resolver(function: HostResolver, label: str) -> UserResolver:
    """Wrap a host callable: its result normalized, its failures made a logged 500."""

    def resolve() -> CurrentUser | None:
        try:
            result = function()
        except BrokerError:
            raise
        except Exception as error:
            # The host's bug, not the caller's: a 500, and the traceback for whoever fixes it.
            log.error("user resolver %s raised", label, exc_info=error)
            raise UserResolverFailed(
                log_hint=f"user resolver {label} raised {type(error).__name__}; fix the "
                "host's resolver (it must return a mapping with 'id', or None)"
            ) from error
        if result is None:
            return None
        if isinstance(result, CurrentUser):
            return _checked(result, label)
        if isinstance(result, Mapping):
            return user_from_mapping(result, "id", "email", "name")
        raise UserResolverFailed(
            log_hint=f"user resolver {label} returned {type(result).__name__}; it must "
            "return a mapping with 'id' (and optionally 'email', 'name'), or None"
        )

    return resolve


def _checked(user: CurrentUser, label: str) -> CurrentUser:
    """A host's own ``CurrentUser`` is taken as built, once its fields are of the right types.

    Type hints do not stop a plain-Python host from putting an int, None or bytes in ``id``:
    passed on, such an id would mint for a user nobody named and break the rate limiter's
    keyed hash (knocking it into its fallback storage). It is the host's bug: a 500.
    """
    wrong = [
        f"{name} is {type(value).__name__}"
        for name, value, optional in (
            ("id", user.id, False),
            ("email", user.email, True),
            ("name", user.name, True),
        )
        if not isinstance(value, str) and not (optional and value is None)
    ]
    if wrong:
        raise UserResolverFailed(
            log_hint=f"user resolver {label} returned a CurrentUser whose {', '.join(wrong)}; "
            "its id must be a str (email and name a str or None)"
        )
    # The limits a mapping's id meets (user_from_mapping). A blank id names nobody: every
    # user the host returned it for would share one vendor identity.
    unusable = [
        f"{name} is {problem}"
        for name, value in (("id", user.id), ("email", user.email))
        if value is not None and (problem := _unusable_identifier(value))
    ]
    if unusable:
        raise UserResolverFailed(
            log_hint=f"user resolver {label} returned a CurrentUser whose {', '.join(unusable)}; "
            f"it must be a non-blank identifier of at most {MAX_FIELD_LENGTH} characters "
            "(return None when nobody is signed in)"
        )
    return user


def _unusable_identifier(value: str) -> str | None:
    """What makes ``value`` no identifier, by the limits ``user_from_mapping`` applies."""
    if _blank(value):
        return "blank"
    if len(value) > MAX_FIELD_LENGTH:
        return f"over {MAX_FIELD_LENGTH} characters"
    return None
