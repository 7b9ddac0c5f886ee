"""The two reference brokers of ``make bench``, as managed processes (started, waited for,
stopped for sure by the same code as the broker's; see ``harness/processes.py``).

* :class:`ExpressReference`: the Mindset docs' Express sample (``references/express/``), one
  node process, reading a cookie-parser signed cookie (:func:`express_cookie`);
* :class:`AiohttpReference`: ``references/aiohttp_broker.py``, one worker process per core,
  reading the same Flask session cookies as the broker.

Both bind loopback only and call the stand-in over plain HTTP, like the broker in the bench.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.processes import ManagedProcess, answers  # noqa: E402

REFERENCES = Path(__file__).resolve().parent / "references"
EXPRESS = REFERENCES / "express"
AIOHTTP = REFERENCES / "aiohttp_broker.py"
# The Express sample's login cookie (its getcurrentuser() reads req.signedCookies.user).
EXPRESS_COOKIE = "user"
ROUTE = "/api/getusertoken"


def vendor_env(secret_key: str, standin_url: str, api_key: str, app_uid: str) -> dict[str, str]:
    """The settings both references read: the same vendor, key and cookie secret as the broker."""
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "SECRET_KEY": secret_key,
        "MINDSET_API_HOST": standin_url,
        "MINDSET_API_KEY": api_key,
        "MINDSET_APP_UID": app_uid,
    }


def express_cookie(user_id: str, secret_key: str) -> str:
    """``user_id`` signed as cookie-parser's ``res.cookie(name, value, {signed: true})`` does
    (``s:`` + value + ``.`` + unpadded base64 HMAC-SHA256), URL-encoded as Express sends it."""
    mac = hmac.new(secret_key.encode(), user_id.encode(), hashlib.sha256).digest()
    signed = f"s:{user_id}.{base64.b64encode(mac).decode().rstrip('=')}"
    return quote(signed, safe="")


class ExpressReference(ManagedProcess):
    """``node references/express/server.js``: the sample's app on a free loopback port."""

    what = "Express reference (node)"

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        if not (EXPRESS / "node_modules").is_dir():
            raise RuntimeError(
                f"{EXPRESS}/node_modules is missing: run `make bench`, or `npm ci` in {EXPRESS}"
            )
        node = shutil.which("node") or "node"
        env = {**env, "PORT": "0", "NODE_ENV": "production"}
        super().__init__([node, str(EXPRESS / "server.js")], env=env, log_path=log_path)
        self.url = ""

    def ready(self) -> None:
        self.url = self.wait_for_log(r"^EXPRESS_READY (\S+)").group(1)
        self.wait_until(lambda: answers(f"{self.url}{ROUTE}", 401), "refused no cookie")


class AiohttpReference(ManagedProcess):
    """``python references/aiohttp_broker.py``: ``processes`` workers sharing one port."""

    what = "aiohttp reference"

    def __init__(self, env: dict[str, str], log_path: Path, processes: int) -> None:
        argv = [sys.executable, str(AIOHTTP), "--processes", str(processes)]
        super().__init__(argv, env=env, log_path=log_path, group=True)
        self.processes = processes
        self.url = ""

    def ready(self) -> None:
        self.url = self.wait_for_log(r"^AIOHTTP_URL (\S+)").group(1)
        self.wait_until(
            lambda: self.output().count("AIOHTTP_WORKER_READY") >= self.processes,
            f"all {self.processes} workers listened",
        )
        self.wait_until(lambda: answers(f"{self.url}{ROUTE}", 401), "refused no cookie")
