"""Reading settings from a mapping of names to values, by their declarations.

A :class:`Reader` turns the mapping into typed values, with the variable's name in every
error, and resolves a secret's ``NAME_FILE`` form wherever the value is read. A
:class:`NotingReader` notes each refusal and carries on with the default instead of raising,
so ``config check`` can list every problem that start-up would meet one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, fields
from typing import Any

from .secret_files import read_secret_file
from .table import _KEY, DECLARED, FILE_SUFFIX, ConfigError, Setting, T, _default, _given


def _declaration(cls: type, name: str) -> Setting:
    (declaration,) = (item for item in fields(cls) if item.name == name)
    setting: Setting = declaration.metadata[_KEY]
    return setting


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
            self.refuse_all(error)
            return None

    def read(self, setting: Setting, default: Any = MISSING) -> Any:
        """The setting's value, or its default (``default`` when given) when it is unset."""
        value = self.raw(setting.name)
        if value is None:
            return _default(setting, default)
        return setting.convert(setting, value)

    def field(self, cls: type, name: str, default: Any = MISSING) -> Any:
        """The setting declared on field ``name`` of dataclass ``cls``."""
        return self.read(_declaration(cls, name), default)

    def given(self, cls: type, name: str) -> bool:
        """Whether the setting declared on field ``name`` of ``cls`` is set, not defaulted."""
        return self.is_set(_declaration(cls, name).name)

    def is_set(self, name: str) -> bool:
        """Whether the source sets ``name``, a secret's ``NAME_FILE`` included even when it
        cannot be read: that file is refused for itself, so it is not also reported missing."""
        setting = DECLARED.get(name)
        return _given(self._source.get(name)) or (
            setting is not None and setting.secret and _given(self._source.get(name + FILE_SUFFIX))
        )

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

    def refuse_all(self, error: ConfigError) -> None:
        """Refuse each of ``error``'s problems."""
        for problem in error.problems:
            self.refuse(problem)

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
            self.refuse_all(error)
            return _default(setting, default)

    def attempt(self, check: Callable[[], T], fallback: T) -> T:
        try:
            return check()
        except ConfigError as error:
            self.refuse_all(error)
            return fallback
