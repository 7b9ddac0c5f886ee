"""How a setting is declared and read; :mod:`config` holds the declarations themselves.

A declaration is a dataclass field made by one of :func:`text`, :func:`flag`, :func:`choice`,
:func:`seconds` and :func:`integer`: the field's default is the setting's default, and its
metadata holds the :class:`Setting` (variable, kind, bounds, whether it is secret, one-line
doc). A secret is left out of the field's ``repr``, so it never reaches a log or ``config
check``. Every declaration is also listed in :data:`DECLARED`, for the documentation check.

:func:`valid_if`, :func:`entries` and :func:`checked_url` are the small checks that many
settings' ``parse`` functions share.

A :class:`Reader` turns a mapping of names to values into typed values by those declarations;
a :class:`NotingReader` notes each refusal and carries on with the default instead of raising,
so ``config check`` can list every problem that start-up would meet one at a time.

A secret setting may also be given as ``NAME_FILE``, the path of a file holding it (the
container and orchestrator convention: ``/run/secrets/...``). The reader resolves it wherever
the value is read, so every setting declared ``secret=True`` gets its ``_FILE`` form for free,
and a file is read again each time settings are loaded (a reload picks up a rotated secret).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_KEY = "setting"
# NAME_FILE: the path of a file holding secret setting NAME.
FILE_SUFFIX = "_FILE"


class ConfigError(ValueError):
    """The configuration cannot work; the message names the variable and the fix."""


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


def read_secret_file(name: str, path: str) -> str:
    """The content of secret ``name``'s file, less one trailing newline (as ``echo`` or an
    editor leaves it). The error names ``NAME_FILE``, the path and the problem, never content."""
    variable = name + FILE_SUFFIX
    try:
        with open(path, encoding="utf-8") as file:
            content = file.read()
    except OSError as error:
        problem = error.strerror or type(error).__name__
        raise ConfigError(f"{variable} cannot be read: {problem}: {path}") from None
    except UnicodeDecodeError:
        # The decoder's message quotes bytes of the secret: keep only the path.
        raise ConfigError(f"{variable} is not UTF-8 text: {path}") from None
    for newline in ("\r\n", "\n"):
        if content.endswith(newline):
            content = content[: -len(newline)]
            break
    if not content.strip():
        raise ConfigError(f"{variable} names an empty file: put the {name} in {path}")
    return content


def secret_sources(source: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Where each secret that is set comes from, without its value (for ``config check``)."""
    found: dict[str, dict[str, str]] = {}
    for name, setting in DECLARED.items():
        if not setting.secret:
            continue
        path = source.get(name + FILE_SUFFIX)
        if _given(path):
            found[name] = {"from": "file", "variable": name + FILE_SUFFIX, "path": str(path)}
        elif _given(source.get(name)):
            found[name] = {"from": "env", "variable": name}
    return found


def with_secret_files_read(source: Mapping[str, Any]) -> dict[str, Any]:
    """``source`` with each secret's ``NAME_FILE`` replaced by its content, given as ``NAME``.

    A server's master reads the files once, checks the result and hands exactly that to the
    workers it forks, so a file changed later (a rotation half done, a typo) reaches no worker
    until a reload has checked it. A secret given both ways is left for reading to refuse.
    """
    resolved = dict(source)
    for name, setting in DECLARED.items():
        path = source.get(name + FILE_SUFFIX)
        if not setting.secret or not _given(path) or _given(source.get(name)):
            continue
        resolved[name] = read_secret_file(name, str(path).strip())
        del resolved[name + FILE_SUFFIX]
    return resolved


class Reader:
    """Typed reads from a mapping by the declarations, with the variable's name in every error."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self._source = source
        # Each secret file is read once per reading, so one reading sees one version of it.
        self._secrets: dict[str, Any] = {}

    def raw(self, name: str) -> Any:
        """The value as given, stripped; None when unset or empty."""
        setting = DECLARED.get(name)
        if setting is not None and setting.secret:
            if name not in self._secrets:
                self._secrets[name] = self._secret(name)
            value = self._secrets[name]
        else:
            value = self._source.get(name)
        if isinstance(value, str):
            return value.strip() or None
        return value

    def _secret(self, name: str) -> Any:
        """Secret ``name`` as given, or read from ``NAME_FILE``; refused when both are set."""
        value, path = self._source.get(name), self._source.get(name + FILE_SUFFIX)
        if not _given(path):
            return value
        if _given(value):
            # Which one would win is a guess nobody should have to make about a secret.
            self.refuse(f"{name} and {name}{FILE_SUFFIX} are both set: keep only one of them")
            return None
        try:
            return read_secret_file(name, str(path).strip())
        except ConfigError as error:
            self.refuse(str(error))
            return None

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else str(value)

    def read(self, setting: Setting, default: Any = MISSING) -> Any:
        """The setting's value, or its default (``default`` when given) when it is unset."""
        value = self.raw(setting.name)
        if value is None:
            return _default(setting, default)
        return setting.convert(setting, value)

    def field(self, cls: type, name: str, default: Any = MISSING) -> Any:
        """The setting declared on field ``name`` of dataclass ``cls``."""
        (declaration,) = (item for item in fields(cls) if item.name == name)
        return self.read(declaration.metadata[_KEY], default)

    def values(
        self,
        cls: type,
        *,
        skip: Collection[str] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Every setting declared on ``cls``'s fields but those in ``skip``, in field order."""
        defaults = defaults or {}
        return {
            item.name: self.read(item.metadata[_KEY], defaults.get(item.name, MISSING))
            for item in fields(cls)
            if _KEY in item.metadata and item.name not in skip
        }

    def section(self, cls: type[T], **given: Any) -> T:
        """An instance of ``cls``: the fields in ``given`` as given, the rest as declared."""
        return cls(**given, **self.values(cls, skip=given))

    def refuse(self, message: str) -> None:
        """Refuse the configuration: raises :class:`ConfigError`."""
        raise ConfigError(message)

    def attempt(self, check: Callable[[], T], fallback: T) -> T:
        """``check()``, which may refuse by raising :class:`ConfigError` (``fallback``: unused)."""
        return check()


class NotingReader(Reader):
    """A reader that notes every refusal and carries on with a default instead of raising."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        super().__init__(source)
        self.problems: list[str] = []

    def refuse(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def read(self, setting: Setting, default: Any = MISSING) -> Any:
        try:
            return super().read(setting, default)
        except ConfigError as error:
            self.refuse(str(error))
            return _default(setting, default)

    def attempt(self, check: Callable[[], T], fallback: T) -> T:
        try:
            return check()
        except ConfigError as error:
            self.refuse(str(error))
            return fallback
