"""The deadline and the 64 KiB bound hold in every worker model the production server runs.

A real gunicorn (its gevent worker) in front of a hostile vendor on
loopback: one that drips its answer a byte at a time, headers or body, on a 2xx or a redirect,
and one that floods a 300 MB body. Each token request is answered by the deadline (plus the
watchdog's tick and scheduling), and the worker's memory does not grow with the flood.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .broker_server import BrokerServer, session_cookie
from .conftest import mindset_settings
from .drip_server import DRIP_IDS, DRIPS, DripServer

pytestmark = pytest.mark.network

DEADLINE = 1.5
MARGIN = 1.0
FLOOD_BYTES = 300 * 1024 * 1024
# A worker reading the flood grows by hundreds of MB; one refusing it barely moves.
MAX_RSS_GROWTH_KB = 30 * 1024


@pytest.fixture(scope="module")
def vendor() -> Iterator[DripServer]:
    with DripServer(interval=0.1) as server:
        yield server


@pytest.fixture(scope="module")
def broker(vendor: DripServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    env = mindset_settings(
        MINDSET_API_HOST=vendor.url,
        MINDSET_READ_TIMEOUT="30",
        BROKER_DEADLINE=str(DEADLINE),
        BROKER_BREAKER_FAILURES="1000",
        BROKER_RATE_LIMIT="100000/minute",
        BROKER_RATE_LIMIT_PER_IP="100000/minute",
    )
    with BrokerServer(env, tmp_path_factory.mktemp("bounds"), workers=1) as server:
        yield server


@pytest.fixture
def hostile(vendor: DripServer) -> Iterator[DripServer]:
    yield vendor
    vendor.status, vendor.location, vendor.drip_headers = 200, None, False
    vendor.flood_bytes, vendor.interval = 0, 0.1


def ask(broker: BrokerServer) -> tuple[requests.Response, float]:
    cookie = session_cookie({"user_id": "ada"})
    started = time.monotonic()
    response = requests.get(
        f"{broker.url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=60
    )
    return response, time.monotonic() - started


def worker_rss_kb(broker: BrokerServer) -> int:
    assert broker.process is not None
    master = broker.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.mark.parametrize(("status", "drip_headers", "answer", "code"), DRIPS, ids=DRIP_IDS)
def test_a_dripped_answer_ends_by_the_deadline(
    broker: BrokerServer,
    hostile: DripServer,
    status: int,
    drip_headers: bool,
    answer: int,
    code: str,
) -> None:
    hostile.status, hostile.drip_headers = status, drip_headers
    hostile.location = "http://localhost:9/elsewhere"
    response, took = ask(broker)
    assert response.status_code == answer
    assert response.json()["error"] == code
    assert took < DEADLINE + MARGIN


@pytest.mark.parametrize(
    ("status", "answer"), [(307, 502), (500, 503), (200, 502)], ids=["307", "500", "200"]
)
def test_a_flooded_body_does_not_grow_the_worker(
    broker: BrokerServer, hostile: DripServer, status: int, answer: int
) -> None:
    hostile.interval = 0
    assert ask(broker)[0].status_code == 200  # warm: every code path the flood meets is loaded
    before = worker_rss_kb(broker)

    hostile.status, hostile.flood_bytes = status, FLOOD_BYTES
    hostile.location = "http://localhost:9/elsewhere"
    response, took = ask(broker)

    assert response.status_code == answer
    assert took < DEADLINE + MARGIN
    assert worker_rss_kb(broker) - before < MAX_RSS_GROWTH_KB
