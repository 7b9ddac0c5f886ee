"""A reference for the benchmark: the least a Python token broker can be, on aiohttp.

One aiohttp web server and one shared ``aiohttp.ClientSession`` per process: it verifies the
host app's Flask session cookie (the same cookies the broker reads, checked the same way:
itsdangerous, HMAC-SHA1, the ``cookie-session`` salt), POSTs the user to the vendor and answers
``{"authToken": ...}``. Nothing else: no rate limits, no cross-site checks, no logs, no
metrics, no retries, and no token reuse or coalescing (it calls the vendor every time), so
the broker's ratio to it is what its protections and reuse cost or buy.

It forks ``--processes`` workers (default 2, one per core of the benchmark machine, as the
broker runs two workers), each listening on the same port with ``SO_REUSEPORT`` so the
kernel spreads the connections. The parent keeps the port bound (not listening) from the
start, so the port it announces cannot be taken in between.

Settings come from the environment: ``SECRET_KEY``, ``MINDSET_API_HOST`` (with the scheme,
``http://`` for the loopback stand-in), ``MINDSET_API_KEY``, ``MINDSET_APP_UID``.
Stdout: ``AIOHTTP_URL <url>`` once, then ``AIOHTTP_WORKER_READY <pid>`` per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from itsdangerous import BadSignature, URLSafeTimedSerializer

# Flask's defaults: the session cookie's name and lifetime (PERMANENT_SESSION_LIFETIME).
COOKIE = "session"
MAX_AGE = 31 * 24 * 3600
CLIENT = web.AppKey("client", ClientSession)
VENDOR_TIMEOUT = ClientTimeout(total=10)


def session_reader(secret_key: str) -> URLSafeTimedSerializer:
    """Reads Flask session cookies: Flask's ``SecureCookieSessionInterface`` settings."""
    return URLSafeTimedSerializer(
        secret_key,
        salt="cookie-session",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )


def unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401)


def build_app(secret_key: str, vendor_url: str, api_key: str) -> web.Application:
    reader = session_reader(secret_key)
    headers = {"x-api-key": api_key}

    async def get_user_token(request: web.Request) -> web.Response:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return unauthorized()
        try:
            session: Any = reader.loads(cookie, max_age=MAX_AGE)
        except BadSignature:
            return unauthorized()
        user_id = session.get("user_id") if isinstance(session, dict) else None
        if not isinstance(user_id, str):
            return unauthorized()
        body = {"externalId": user_id, "name": session.get("user_name")}
        async with request.app[CLIENT].post(vendor_url, json=body, headers=headers) as answer:
            if answer.status != 200:
                return web.json_response({"error": "vendor_error"}, status=502)
            data = await answer.json()
        return web.json_response({"authToken": data["authToken"]})

    async def client(app: web.Application) -> AsyncIterator[None]:
        # One pool per process; no connection limit, as Node's agent has none: the load, not
        # a default of the client, decides how many vendor calls run at once.
        async with ClientSession(
            connector=TCPConnector(limit=0), timeout=VENDOR_TIMEOUT
        ) as session:
            app[CLIENT] = session
            yield

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_get("/api/getusertoken", get_user_token)
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        await web.TCPSite(runner, host, port, reuse_port=True, backlog=1024).start()
        print(f"AIOHTTP_WORKER_READY {os.getpid()}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def reserve_port(host: str, port: int) -> socket.socket:
    """The port, bound but not listening: it takes no connections, but holds the port."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    env = os.environ
    vendor_url = f"{env['MINDSET_API_HOST']}/api/v1/appuid/{env['MINDSET_APP_UID']}/sdkusers/auth"
    holder = reserve_port(args.host, args.port)
    port = holder.getsockname()[1]
    print(f"AIOHTTP_URL http://{args.host}:{port}", flush=True)
    children = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            # A worker: its own event loop and client, created after the fork.
            holder.close()
            code = 0
            try:
                app = build_app(env["SECRET_KEY"], vendor_url, env["MINDSET_API_KEY"])
                asyncio.run(serve(app, args.host, port))
            except BaseException:
                traceback.print_exc()
                code = 1
            # Never back into the parent's code below: a forked worker ends here.
            os._exit(code)
        children.append(pid)

    def forward(number: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, number)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
