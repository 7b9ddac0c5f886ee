"""The broker as a host installs it: the built wheel in a fresh venv, at both ends of its ranges.

The example host project (its own ``app`` package and ``config.py``, Flask-Login) is copied out
of the checkout and run as a real process with the venv's Python, no ``PYTHONPATH`` and no
checkout on the path, against the stand-in vendor: once with the service's pinned versions,
once with the lowest versions the package allows.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from flask_token_broker.sandbox_vendor.tokens import token_claims
from flask_token_broker.version import VERSION
from harness.standin_process import StandinProcess

from . import fake_secrets
from .conftest import KNOWN_SECRETS, mindset_settings
from .example_host import EXAMPLE_DIR
from .fresh_venv import FreshVenv, build_wheel, copy_of_checkout
from .host_process import host_process, serving
from .packaging_info import lower_bound, service_pins, wheel_metadata

pytestmark = pytest.mark.network

HOST_PASSWORD = "installed-host-password-0123456789"
KNOWN_SECRETS.add(HOST_PASSWORD)
# The repository's own top-level names: none may come with the package.
REPOSITORY_NAMES = ("app", "config", "serving", "standin", "harness", "bench", "wsgi", "examples")
HOST_DEPENDENCY = "Flask-Login==0.6.3"

WHERE_NAMES_COME_FROM = """
import importlib, importlib.metadata, json
found = {}
for name in %r:
    try:
        found[name] = importlib.import_module(name).__file__
    except ModuleNotFoundError:
        found[name] = None
broker = importlib.import_module("flask_token_broker")
versions = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
files = importlib.metadata.distribution("Flask-Token-Broker").files
top_level = sorted({f.parts[0] for f in files if not f.parts[0].endswith(".dist-info")})
print(json.dumps({
    "found": found, "broker": broker.__file__, "versions": versions, "top_level": top_level
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def requirements(wheel: Path) -> list[Requirement]:
    headers = wheel_metadata(wheel)
    assert headers["Name"] == ["Flask-Token-Broker"]
    assert headers["Version"] == [VERSION]
    return [
        Requirement(line)
        for line in headers["Requires-Dist"]
        if Requirement(line).marker is None  # extras' requirements are not the package's
    ]


def versions_at(end: str, requirements: list[Requirement]) -> dict[str, Version]:
    """Each requirement's version at this end: the service's pin, or the lowest allowed."""
    if end == "pinned":
        pins = service_pins()
        return {r.name: pins[canonicalize_name(r.name)] for r in requirements}
    return {r.name: lower_bound(r) for r in requirements}


def constraints_for(end: str, requirements: list[Requirement], directory: Path) -> Path:
    # The pinned end holds everything requirements.txt pins, without extras (a constraint
    # names a version only); the lowest end, the package's own requirements at their floor.
    versions = service_pins() if end == "pinned" else versions_at(end, requirements)
    path = directory / f"{end}-constraints.txt"
    path.write_text("".join(f"{name}=={version}\n" for name, version in versions.items()))
    return path


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


@pytest.mark.parametrize("end", ["pinned", "lowest"])
def test_a_host_project_with_the_installed_wheel_gets_tokens_for_its_users(
    end: str,
    wheel: Path,
    requirements: list[Requirement],
    standin: StandinProcess,
    tmp_path: Path,
) -> None:
    environment = FreshVenv(tmp_path / "venv")
    environment.pip("-c", constraints_for(end, requirements, tmp_path), wheel, HOST_DEPENDENCY)
    project = tmp_path / "host"
    shutil.copytree(EXAMPLE_DIR, project, ignore=shutil.ignore_patterns("__pycache__"))

    names = environment.run_json(WHERE_NAMES_COME_FROM % (REPOSITORY_NAMES,), cwd=project)
    found = names["found"]
    assert isinstance(found, dict)
    # The host's own app and config, and nothing else of the repository's.
    assert found.pop("app") == str(project / "app" / "__init__.py")
    assert found.pop("config") == str(project / "config.py")
    assert found == dict.fromkeys(found), f"the package brought {found}"
    assert "site-packages" in str(names["broker"])
    assert names["top_level"] == ["flask_token_broker"]
    versions = names["versions"]
    assert isinstance(versions, dict)
    assert versions["Flask-Token-Broker"] == VERSION
    installed = {canonicalize_name(n): v for n, v in versions.items()}
    for name, version in versions_at(end, requirements).items():
        assert Version(installed[canonicalize_name(name)]) == version, f"{name} at the {end} end"

    settings = mindset_settings(MINDSET_API_HOST=standin.url, HOST_DEMO_PASSWORD=HOST_PASSWORD)
    host = host_process(
        settings, tmp_path, python=environment.python, project_dir=project, broker_path=None
    )
    with serving(host) as url, requests.Session() as browser:
        signed_out = browser.get(f"{url}/api/getusertoken", timeout=10)
        assert signed_out.status_code == 401
        assert signed_out.headers["Content-Type"] == "application/json"
        assert signed_out.json()["error"] == "not_signed_in"

        signed_in = browser.post(
            f"{url}/login",
            data={"username": "ada", "password": HOST_PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 302
        token = browser.get(f"{url}/api/getusertoken", timeout=10)
        assert token.status_code == 200, token.text
        assert token_claims(token.json()["authToken"])["sub"] == "ada"

        # The host's own routes and error page, beside the broker's probes.
        assert browser.get(f"{url}/", timeout=10).text == "<p>Signed in as Ada Lovelace.</p>"
        assert browser.get(f"{url}/healthz", timeout=10).text == "host ok"
        missing = browser.get(f"{url}/no-such-page", timeout=10)
        assert (missing.status_code, missing.text) == (404, "<h1>Host app: page not found</h1>")
        health = browser.get(f"{url}/broker/healthz", timeout=10)
        assert health.json() == {"status": "ok", "version": VERSION}


def test_pip_install_of_the_checkout_puts_only_the_package_on_the_path(
    tmp_path: Path,
) -> None:
    environment = FreshVenv(tmp_path / "venv")
    checkout = copy_of_checkout(tmp_path / "checkout")
    environment.pip("--no-deps", checkout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    names = environment.run_json(WHERE_NAMES_COME_FROM % (REPOSITORY_NAMES,), cwd=elsewhere)
    assert names["found"] == dict.fromkeys(REPOSITORY_NAMES)
    assert "site-packages" in str(names["broker"])
    assert names["top_level"] == ["flask_token_broker"]
