"""``make bench``'s CPU split: which of py-spy's samples are the vendor call's."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from .file_modules import load_module

ROOT = Path(__file__).resolve().parent.parent


def load_cpu_split() -> ModuleType:
    # bench/ is scripts, not a package.
    return load_module("bench_cpu_split", ROOT / "bench" / "cpu_split.py")


cpu_split = load_cpu_split()

CLIENT = "/srv/broker/flask_token_broker/mindset/client.py"
WORKER = 'process 10:"gunicorn: worker";run (gevent/hub.py:1)'
ROUTE = "get_user_token (flask_token_broker/routes/tokens.py:31)"
RAW = "\n".join(
    [
        f"{WORKER};{ROUTE};authenticate ({CLIENT}:150);_post ({CLIENT}:200) 30",
        # py-spy names a method with its class.
        f"{WORKER};MindsetClient.authenticate ({CLIENT}:151) 10",
        f"{WORKER};finish_response (flask_token_broker/routes/pipeline.py:60) 45",
        f"{WORKER};authenticated (other/client.py:3) 15",
        f"{WORKER};Other.reauthenticate ({CLIENT}:3) 5",
        "not a sample line",
    ]
)


def test_samples_inside_the_vendor_call_are_its_share() -> None:
    split = cpu_split.split_of(RAW)
    assert split.samples == 105
    assert split.vendor_call_samples == 40
    assert split.vendor_call_share == 40 / 105


def test_no_samples_is_no_share() -> None:
    assert cpu_split.split_of("").vendor_call_share == 0.0
