"""How a setting is declared: :class:`Setting`, the field makers and the shared checks.

A declaration is a dataclass field made by one of :func:`text`, :func:`flag`, :func:`choice`,
:func:`seconds` and :func:`integer`: the field's default is the setting's default, and its
metadata holds the :class:`Setting` (variable, kind, bounds, whether it is secret, one-line
doc). A secret is left out of the field's ``repr``, so it never reaches a log or ``config
check``. Every declaration is also listed in :data:`DECLARED`, for the documentation check.

:func:`valid_if`, :func:`entries` and :func:`checked_url` are the small checks that many
settings' ``parse`` functions share.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_KEY = "setting"
# NAME_FILE: the path of a file holding secret setting NAME.
FILE_SUFFIX = "_FILE"


class ConfigError(ValueError):
    """The configuration cannot work; the message names the variable and the fix.

    Start-up names every problem it finds at once, as ``config check`` lists them: one error,
    each problem in :attr:`problems`, all of them numbered in the message.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems: tuple[str, ...] = problems

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        numbered = "; ".join(f"({n}) {problem}" for n, problem in enumerate(self.problems, 1))
        return f"{len(self.problems)} problems: {numbered}"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


# The default of a setting that has none: the field must be given (a credential, a key).
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Setting:
    """One setting: everything reading, checking and documenting it needs."""

    name: str
    default: Any
    doc: str
    # Turns a present value (a string, or already typed from a host's app.config) into the
    # setting's value, or raises ConfigError naming the variable.
    convert: Callable[[Setting, Any], Any]
    secret: bool = False
    minimum: float = 0
    maximum: float = 10**9
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


DECLARED: dict[str, Setting] = {}


def _declare(setting: Setting) -> Any:
    if setting.name in DECLARED:
        raise RuntimeError(f"{setting.name} is declared twice")
    DECLARED[setting.name] = setting
    default = MISSING if setting.required else setting.default
    return field(default=default, repr=not setting.secret, metadata={_KEY: setting})


def declared(declaration: Any) -> Setting:
    """The :class:`Setting` of a declaration that holds no field (``BROKER_SANDBOX``)."""
    setting: Setting = declaration.metadata[_KEY]
    return setting


def valid_if(accepted: Callable[[str], object], refusal: str) -> Callable[[str], str]:
    """A check for ``parse``: the value itself when ``accepted(value)``, else ``refusal``."""

    def check(value: str) -> str:
        if not accepted(value):
            raise ConfigError(refusal)
        return value

    return check


def entries(value: str | None) -> list[str]:
    """The non-empty, trimmed parts of a comma-separated value."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def checked_url(
    value: str,
    malformed: str,
    *,
    empty: tuple[str, ...] = (),
    plaintext: str | None = None,
    plaintext_on_loopback: bool = True,
) -> SplitResult:
    """``value`` split, when it is an http(s) URL with a host, no credentials and a valid port.

    Otherwise :class:`ConfigError` with ``malformed``; so too when one of the parts named in
    ``empty`` (``path``, ``query``, ``fragment``) is set. With ``plaintext`` given, plain http
    is refused with that message, except to a loopback host when ``plaintext_on_loopback``.
    """
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(malformed) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or (port is not None and not 0 < port < 65536)
        or any(getattr(parts, part) for part in empty)
    ):
        raise ConfigError(malformed)
    if (
        plaintext is not None
        and parts.scheme == "http"
        and not (plaintext_on_loopback and is_loopback(parts.hostname))
    ):
        raise ConfigError(plaintext)
    return parts


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(setting: Setting, value: Any) -> Any:
    return str(value) if setting.parse is None else setting.parse(str(value))


def _flag(setting: Setting, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{setting.name} must be 1 or 0 (also true/false, yes/no, on/off)")


def _choice(setting: Setting, value: Any) -> str:
    if str(value) not in setting.choices:
        raise ConfigError(f"{setting.name} must be one of: {', '.join(setting.choices)}")
    return str(value)


def _seconds(setting: Setting, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{setting.name} must be a number of seconds") from None
    if not 0 < number <= setting.maximum:
        raise ConfigError(
            f"{setting.name} must be more than 0 and at most {setting.maximum:g} seconds"
        )
    return number


def _integer(setting: Setting, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{setting.name} must be a whole number") from None
    if not setting.minimum <= number <= setting.maximum:
        raise ConfigError(
            f"{setting.name} must be between {int(setting.minimum)} and {int(setting.maximum)}"
        )
    return number


def text(
    name: str,
    default: Any,
    doc: str,
    *,
    parse: Callable[[str], Any] | None = None,
    secret: bool = False,
) -> Any:
    """A string, or what ``parse`` makes of it (``parse`` raises ConfigError when it cannot)."""
    return _declare(Setting(name, default, doc, _text, secret=secret, parse=parse))


def flag(name: str, default: bool, doc: str) -> Any:
    """1 or 0 (also true/false, yes/no, on/off)."""
    return _declare(Setting(name, default, doc, _flag))


def choice(name: str, default: str, doc: str, *, choices: tuple[str, ...]) -> Any:
    """One of ``choices``."""
    return _declare(Setting(name, default, doc, _choice, choices=choices))


def seconds(name: str, default: float, doc: str, *, maximum: float = 300.0) -> Any:
    """A number of seconds, more than 0 and at most ``maximum``."""
    return _declare(Setting(name, default, doc, _seconds, maximum=maximum))


def integer(name: str, default: int, doc: str, *, minimum: int = 0, maximum: int = 10**9) -> Any:
    """A whole number from ``minimum`` to ``maximum``."""
    return _declare(Setting(name, default, doc, _integer, minimum=minimum, maximum=maximum))


def _default(setting: Setting, default: Any) -> Any:
    if default is not MISSING:
        return default
    return None if setting.required else setting.default


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())
