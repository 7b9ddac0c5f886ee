"""Whether a setting was given or left to its default, as the settings reader tells it
(``Reader.given``, ``Reader.is_set``): what start-up's warnings and "missing" problems rest on.

Careless changes these tests catch: a setting given in the environment not counted as given
(its default taken for the operator's choice, or a vendor flow taken for absent and the sandbox
started); a secret given only as ``NAME_FILE`` reported missing as well; an empty value counted
as given; a non-secret's ``_FILE`` form believed.
"""

from __future__ import annotations

import pytest

from flask_token_broker.settings import DECLARED, ConfigError, Settings, load_settings
from flask_token_broker.settings.reader import Reader

from . import fake_secrets
from .conftest import mindset_settings


@pytest.mark.parametrize(
    ("source", "given"),
    [
        ({}, False),
        ({"BROKER_DEMO_LOGIN": ""}, False),
        ({"BROKER_DEMO_LOGIN": "0"}, True),
        ({"BROKER_DEMO_LOGIN": "1"}, True),
    ],
)
def test_a_setting_is_given_only_when_the_source_sets_it(
    source: dict[str, str], given: bool
) -> None:
    assert Reader(source).given(Settings, "demo_login") is given
    assert load_settings(mindset_settings(**source)).demo_login_set is given


@pytest.mark.parametrize(
    ("source", "is_set"),
    [
        ({"MINDSET_API_KEY": fake_secrets.API_KEY}, True),
        ({"MINDSET_API_KEY_FILE": "/no/such/file"}, True),
        ({"MINDSET_API_KEY": "", "MINDSET_API_KEY_FILE": ""}, False),
        ({}, False),
    ],
)
def test_a_secret_is_set_in_either_form(source: dict[str, str], is_set: bool) -> None:
    assert Reader(source).is_set("MINDSET_API_KEY") is is_set


def test_only_a_secret_has_a_file_form() -> None:
    assert Reader({"MINDSET_API_HOST": "acme.api.mindset.ai"}).is_set("MINDSET_API_HOST")
    assert not Reader({"MINDSET_API_HOST_FILE": "/etc/hostname"}).is_set("MINDSET_API_HOST")


def test_a_secret_given_both_ways_is_refused_by_name_by_a_plain_reader() -> None:
    # A plain reader (parse_log_level's) raises at the first refusal, with its reason.
    source = {"MINDSET_API_KEY": fake_secrets.API_KEY, "MINDSET_API_KEY_FILE": "/run/secrets/k"}
    with pytest.raises(ConfigError) as refused:
        Reader(source).read(DECLARED["MINDSET_API_KEY"])
    assert str(refused.value) == (
        "MINDSET_API_KEY and MINDSET_API_KEY_FILE are both set: keep only one of them"
    )
