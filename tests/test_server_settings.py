"""The production server's own settings (``serving/settings.py``): defaults, bounds, messages.

Each setting is read from a mapping like the environment; a value out of bounds or of the
wrong kind stops start-up with a message that names the variable and what it accepts, and a
retired worker-model setting is refused unless it asks for what the server runs anyway.

Careless changes these tests catch (each would let a bad deployment start or stop a good one):
an off-by-one bound (a port of 65536 accepted, one worker refused), a header timeout of 0 or a
negative one accepted (every request 408 at once), a default changed by accident (75 s
keep-alive, 10 s headers, 512 requests in flight), BROKER_BIND no longer following PORT,
whitespace around a value refusing it, an empty value no longer meaning "unset", a message
that no longer names the variable or quotes the raw value in full (a secret pasted into the
wrong variable must be cut at 40 characters), BROKER_THREADS or another worker class
accepted silently, and a worker that reads the environment again instead of what its master
accepted.
"""

from __future__ import annotations

import os

import pytest

from serving import settings
from serving.settings import ServerSettings, read_server_settings

WHOLE_BOUNDS = [
    ("PORT", 0, 65535),
    ("BROKER_WORKERS", 1, 1024),
    ("BROKER_WORKER_CONNECTIONS", 1, 1_000_000),
    ("BROKER_KEEPALIVE", 0, 3600),
    ("BROKER_MAX_IN_FLIGHT", 1, 100_000),
]
FIELD = {
    "BROKER_WORKERS": "workers",
    "BROKER_WORKER_CONNECTIONS": "worker_connections",
    "BROKER_KEEPALIVE": "keepalive",
    "BROKER_MAX_IN_FLIGHT": "max_in_flight",
}


def refusal(source: dict[str, str]) -> str:
    """The message with which ``source`` is refused."""
    try:
        read_server_settings(source)
    except ValueError as refused:
        return str(refused)
    raise AssertionError(f"{source} was accepted")


@pytest.fixture(autouse=True)
def nothing_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process whose master accepted nothing yet."""
    monkeypatch.setattr(settings, "_accepted", None)


def test_unset_settings_take_their_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert read_server_settings({}) == ServerSettings(
        bind="0.0.0.0:8000",
        workers=3,
        worker_connections=1000,
        keepalive=75,
        header_timeout=10.0,
        max_in_flight=512,
    )


def test_one_worker_where_the_system_cannot_count_its_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert read_server_settings({}).workers == 1


def test_the_bind_address_follows_port_unless_set_itself() -> None:
    assert read_server_settings({"PORT": "9001"}).bind == "0.0.0.0:9001"
    assert read_server_settings({"PORT": "9001", "BROKER_BIND": "[::]:7000"}).bind == "[::]:7000"


def test_values_are_read_without_surrounding_whitespace() -> None:
    read = read_server_settings(
        {
            "PORT": " 8080 ",
            "BROKER_WORKERS": "\t4\n",
            "BROKER_HEADER_TIMEOUT": " 2.5 ",
            "BROKER_BIND": " 127.0.0.1:1 ",
        }
    )
    assert (read.workers, read.header_timeout, read.bind) == (4, 2.5, "127.0.0.1:1")
    assert read_server_settings({"PORT": " 8080 "}).bind == "0.0.0.0:8080"


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_value_means_unset(empty: str | None) -> None:
    read = read_server_settings({"BROKER_KEEPALIVE": empty, "BROKER_HEADER_TIMEOUT": empty})
    assert (read.keepalive, read.header_timeout) == (75, 10.0)


@pytest.mark.parametrize(("name", "low", "high"), WHOLE_BOUNDS)
def test_whole_number_settings_accept_their_bounds(name: str, low: int, high: int) -> None:
    for value in (low, high):
        read = read_server_settings({name: str(value)})
        if name == "PORT":
            assert read.bind == f"0.0.0.0:{value}"
        else:
            assert getattr(read, FIELD[name]) == value


@pytest.mark.parametrize(("name", "low", "high"), WHOLE_BOUNDS)
def test_whole_number_settings_refuse_one_past_either_bound(name: str, low: int, high: int) -> None:
    for value in (low - 1, high + 1):
        assert refusal({name: str(value)}) == f"{name} must be at least {low} and at most {high}"


@pytest.mark.parametrize("raw", ["lots", "1.5", "0x10", "8 workers"])
def test_a_whole_number_setting_refuses_anything_else_quoting_it(raw: str) -> None:
    assert refusal({"BROKER_WORKERS": raw}) == f"BROKER_WORKERS must be a whole number, not {raw!r}"


def test_a_refused_value_is_quoted_only_up_to_40_characters() -> None:
    raw = "s3cr3t-" + "x" * 33 + "TAIL-NOT-QUOTED"
    assert refusal({"PORT": raw}) == f"PORT must be a whole number, not {raw[:40]!r}"
    assert refusal({"BROKER_HEADER_TIMEOUT": raw}) == (
        f"BROKER_HEADER_TIMEOUT must be a number of seconds, not {raw[:40]!r}"
    )


@pytest.mark.parametrize(("raw", "seconds"), [("0.001", 0.001), ("300", 300.0), ("7", 7.0)])
def test_the_header_timeout_takes_any_seconds_above_0_up_to_300(raw: str, seconds: float) -> None:
    assert read_server_settings({"BROKER_HEADER_TIMEOUT": raw}).header_timeout == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "300.001", "nan", "inf"])
def test_the_header_timeout_refuses_0_negative_and_over_300_seconds(raw: str) -> None:
    assert (
        refusal({"BROKER_HEADER_TIMEOUT": raw})
        == "BROKER_HEADER_TIMEOUT must be more than 0 and at most 300 seconds"
    )


def test_the_header_timeout_refuses_what_is_not_a_number() -> None:
    assert (
        refusal({"BROKER_HEADER_TIMEOUT": "ten"})
        == "BROKER_HEADER_TIMEOUT must be a number of seconds, not 'ten'"
    )


@pytest.mark.parametrize("source", [{}, {"BROKER_WORKER_CLASS": "gevent"}, {"BROKER_THREADS": ""}])
def test_retired_settings_unset_or_asking_for_gevent_are_accepted(source: dict[str, str]) -> None:
    assert read_server_settings(source) == read_server_settings({})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BROKER_WORKER_CLASS", "gthread"),
        ("BROKER_WORKER_CLASS", "Gevent"),
        ("BROKER_THREADS", "8"),
    ],
)
def test_retired_settings_asking_for_another_worker_model_stop_start_up(
    name: str, value: str
) -> None:
    assert refusal({name: value}) == (
        f"{name}={value!r}: the server runs gevent workers only "
        "(serving/gevent_worker.py); unset it"
    )


def test_a_retired_setting_is_quoted_only_up_to_40_characters() -> None:
    value = "t" * 40 + "-and-more"
    assert refusal({"BROKER_THREADS": value}).startswith(f"BROKER_THREADS={'t' * 40!r}: ")


def test_a_worker_finds_the_settings_its_master_accepted() -> None:
    chosen = read_server_settings({"BROKER_MAX_IN_FLIGHT": "3", "BROKER_HEADER_TIMEOUT": "1"})
    settings.accept(chosen)
    assert settings.accepted() is chosen


def test_a_worker_whose_master_accepted_nothing_uses_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BROKER_MAX_IN_FLIGHT", "3")  # the environment is not read again
    assert settings.accepted() == read_server_settings({})
