"""Every secret setting can be given as ``NAME_FILE``, the container and orchestrator way.

The file's content (less one trailing newline) is the value; ``NAME`` and ``NAME_FILE`` both
set, or a file that cannot be read, are configuration errors that name the variable and the
path and never quote the content. ``config check`` says where each secret came from.

Careless changes these tests catch (``settings/secret_files.py``): the content quoted in an
error; more than one trailing newline stripped, or none; a FIFO or device opened in a way
that waits for a writer; a file of any size read whole; a key a header cannot carry accepted
and left to fail every request; ``NAME`` and ``NAME_FILE`` both set and one silently winning.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import responses

from config import accept_server_configuration
from flask_token_broker.commands import diagnostics_app
from flask_token_broker.settings import ConfigError, Settings, find_problems, load_settings
from flask_token_broker.settings.reader import Reader
from flask_token_broker.settings.secret_files import read_secret_file, with_secret_files_read
from flask_token_broker.settings.table import DECLARED, Setting

from . import fake_secrets
from .conftest import AUTH_URL, build_app, mindset_settings
from .resolver_helpers import typingmind_settings

REDIS_URL = "redis://:redis-password-0123456789@127.0.0.1:6379/0"
# For each secret: a configuration that reads it, and the value it is given.
SECRETS: dict[str, tuple[dict[str, str], str]] = {
    "MINDSET_API_KEY": (mindset_settings(), fake_secrets.API_KEY),
    "SECRET_KEY": (mindset_settings(), fake_secrets.SECRET_KEY),
    "TYPINGMIND_JWT_SECRET": (typingmind_settings(), fake_secrets.TYPINGMIND_SECRET),
    "BROKER_JWT_SECRET": (
        typingmind_settings(BROKER_USER_RESOLVER="jwt"),
        fake_secrets.IDP_JWT_SECRET,
    ),
    "BROKER_METRICS_TOKEN": (mindset_settings(), "metrics-token-0123456789abcdef"),
    "BROKER_REDIS_URL": (mindset_settings(), REDIS_URL),
}


def secret_write(path: Path, content: str | bytes) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def values_of(settings: Any) -> list[Any]:
    """Every value held anywhere in ``settings``."""
    found = []
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        found += values_of(value) if dataclasses.is_dataclass(value) else [value]
    return found


def test_every_secret_declared_is_covered_here() -> None:
    assert {name for name, setting in DECLARED.items() if setting.secret} == set(SECRETS)


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_secret_is_read_from_its_file(name: str, tmp_path: Path) -> None:
    base, value = SECRETS[name]
    source = {k: v for k, v in base.items() if k != name}
    source[f"{name}_FILE"] = secret_write(tmp_path / "secret", value + "\n")
    settings = load_settings({**source, name: ""})  # an empty NAME= (.env.example) is unset
    assert value in values_of(settings)
    assert settings == load_settings({**base, name: value})


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_a_server_reads_each_secret_file_once_and_hands_on_its_content(
    name: str, tmp_path: Path
) -> None:
    base, value = SECRETS[name]
    path = tmp_path / "secret"
    source = {**base, name: "", f"{name}_FILE": secret_write(path, value + "\n")}
    resolved = with_secret_files_read(source)
    assert resolved == {**base, name: value}
    # A later change to the file is not what the workers load: a reload must check it first.
    secret_write(path, "")
    assert load_settings(resolved) == load_settings({**base, name: value})


def test_a_secret_given_both_ways_is_left_for_reading_to_refuse(tmp_path: Path) -> None:
    source = mindset_settings(MINDSET_API_KEY_FILE=secret_write(tmp_path / "key", "other-key"))
    assert with_secret_files_read(source) == source
    with pytest.raises(ConfigError, match="are both set"):
        accept_server_configuration(source)


def test_a_server_refuses_an_unusable_secret_file_naming_it(tmp_path: Path) -> None:
    source = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    path = secret_write(tmp_path / "empty", "\n")
    with pytest.raises(ConfigError) as error:
        accept_server_configuration({**source, "MINDSET_API_KEY_FILE": path})
    assert (
        str(error.value)
        == f"MINDSET_API_KEY_FILE names an empty file: put the MINDSET_API_KEY in {path}"
    )


def test_a_new_secret_setting_gets_its_file_form_for_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setting = Setting("BROKER_SOME_NEW_SECRET", None, "a new secret", lambda s, v: v, secret=True)
    monkeypatch.setitem(DECLARED, setting.name, setting)
    path = secret_write(tmp_path / "new", "s3cret\n")
    assert Reader({"BROKER_SOME_NEW_SECRET_FILE": path}).read(setting) == "s3cret"
    # Declared without the secret flag, NAME_FILE means nothing.
    monkeypatch.setitem(DECLARED, setting.name, dataclasses.replace(setting, secret=False))
    assert Reader({"BROKER_SOME_NEW_SECRET_FILE": path}).read(setting) is None


def test_only_one_trailing_newline_is_stripped(tmp_path: Path) -> None:
    assert read_secret_file("X", secret_write(tmp_path / "a", "abc\n")) == "abc"
    assert read_secret_file("X", secret_write(tmp_path / "b", "abc\r\n")) == "abc"
    assert read_secret_file("X", secret_write(tmp_path / "c", "abc\n\n")) == "abc\n"
    assert read_secret_file("X", secret_write(tmp_path / "d", "abc")) == "abc"


def test_the_value_and_its_file_both_set_is_refused_naming_both(tmp_path: Path) -> None:
    path = secret_write(tmp_path / "key", "other-key-0123456789")
    with pytest.raises(ConfigError) as error:
        load_settings(mindset_settings(MINDSET_API_KEY_FILE=path))
    message = str(error.value)
    assert "MINDSET_API_KEY and MINDSET_API_KEY_FILE are both set" in message
    assert fake_secrets.API_KEY not in message
    assert "other-key" not in message


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: str(tmp / "absent"), "No such file or directory"),
        (lambda tmp: str(tmp), "Is a directory"),
        (lambda tmp: secret_write(tmp / "empty", "\n"), "names an empty file"),
        (lambda tmp: secret_write(tmp / "bin", b"\xffsecret-bytes"), "is not UTF-8 text"),
        (lambda tmp: fifo(tmp / "fifo"), "is not a regular file (a FIFO, socket or device)"),
        (lambda tmp: secret_write(tmp / "big", "k" * (64 * 1024 + 1)), "over 64 KiB"),
    ],
)
def test_an_unusable_file_is_refused_naming_the_variable_and_path(
    tmp_path: Path, make: Any, problem: str
) -> None:
    path = make(tmp_path)
    source = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    with pytest.raises(ConfigError) as error:
        load_settings({**source, "MINDSET_API_KEY_FILE": path})
    message = str(error.value)
    assert message.startswith("MINDSET_API_KEY_FILE ")
    assert problem in message
    assert path in message
    assert "secret-bytes" not in message
    # config check lists it too, among every other problem.
    assert message in find_problems({**source, "MINDSET_API_KEY_FILE": path})


def fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize("env", ["development", "production"])
@pytest.mark.parametrize("name", SECRETS)
def test_an_unreadable_secret_file_is_reported_once_not_also_as_missing(
    tmp_path: Path, name: str, env: str
) -> None:
    """The file's own problem says it all: not also "NAME is missing", "required" or "needs
    exactly one of" as if the secret had not been given."""
    config, _ = SECRETS[name]
    path = str(tmp_path / "absent")
    source = {k: v for k, v in config.items() if k != name}
    source.update({f"{name}_FILE": path, "BROKER_ENV": env})
    report = json.loads(
        diagnostics_app(source).test_cli_runner().invoke(args=["config", "check"]).stdout
    )
    mentions = [problem for problem in report["problems"] if name in problem]
    assert mentions == [f"{name}_FILE cannot be read: No such file or directory: {path}"]


def test_a_fifo_never_holds_the_reader(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer, unless told not to: it must not wait."""
    path = fifo(tmp_path / "fifo")
    refusals: list[str] = []

    def read() -> None:
        with pytest.raises(ConfigError) as error:
            read_secret_file("K", path)
        refusals.append(str(error.value))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "reading the FIFO waited for a writer"
    assert "is not a regular file" in refusals[0]


def test_a_file_of_64_kib_is_read_whole(tmp_path: Path) -> None:
    content = "k" * (64 * 1024)
    assert read_secret_file("K", secret_write(tmp_path / "k", content)) == content


@pytest.mark.parametrize("key", ["line\nbreak", "tab\tin", "caf\u00e9-key", "nul\x00"])
def test_a_key_no_header_can_carry_is_refused_when_loaded_naming_it(
    tmp_path: Path, key: str
) -> None:
    source = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    in_file = {"MINDSET_API_KEY_FILE": secret_write(tmp_path / "k", key)}
    for given in ({"MINDSET_API_KEY": key}, in_file):
        with pytest.raises(ConfigError) as error:
            load_settings({**source, **given})
        assert "MINDSET_API_KEY holds a character an HTTP header cannot carry" in str(error.value)
        assert key.strip() not in str(error.value)


def test_the_key_from_the_file_is_the_one_sent_to_the_vendor(tmp_path: Path) -> None:
    source = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    app = build_app({**source, "MINDSET_API_KEY_FILE": secret_write(tmp_path / "k", "file-key\n")})
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok"})
        result = app.test_cli_runner().invoke(args=["token", "mint", "--external-id", "ada"])
        assert vendor.calls[0].request.headers["x-api-key"] == "file-key"
    assert result.exit_code == 0


def test_config_check_shows_where_each_secret_came_from_not_its_value(tmp_path: Path) -> None:
    source = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    path = secret_write(tmp_path / "key", fake_secrets.API_KEY + "\n")
    app = build_app({**source, "MINDSET_API_KEY_FILE": path})
    result = app.test_cli_runner().invoke(args=["config", "check"])
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["secret_sources"] == {
        "MINDSET_API_KEY": {"from": "file", "variable": "MINDSET_API_KEY_FILE", "path": path},
        "SECRET_KEY": {"from": "env", "variable": "SECRET_KEY"},
    }
    assert report["settings"]["mindset"]["api_key"] == "<set, hidden>"
    for secret in fake_secrets.ALL:
        assert secret not in result.stdout


def test_settings_built_from_files_keep_secrets_out_of_repr(tmp_path: Path) -> None:
    source = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    path = secret_write(tmp_path / "key", fake_secrets.API_KEY)
    settings: Settings = load_settings({**source, "MINDSET_API_KEY_FILE": path})
    assert fake_secrets.API_KEY not in repr(settings)


def test_every_secret_is_documented_with_its_file_form() -> None:
    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "operators" / "secrets.md").read_text()
    readme = page.split("**Secrets from files.**", 1)[1]
    paragraph = readme.split("\n\n", 1)[0]
    header = (root / ".env.example").read_text().split("\n\n", 1)[0]
    for name in SECRETS:
        assert f"`{name}`" in paragraph
        assert name in header
