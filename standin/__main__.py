"""``python -m standin``: run the stand-in on a port and announce it on stdout.

The one stdout line ``STANDIN_READY http://<host>:<port>`` is the contract with a parent
process (port 0 picks a free port, so parallel test runs never collide); everything else goes
to stderr. The API key is never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from flask_token_broker.sandbox_vendor.mindset import MindsetStandin
from flask_token_broker.sandbox_vendor.tokens import FORMATS
from standin.control import ControlApi
from standin.faults import FaultSwitch
from standin.router import Router
from standin.server import StandinServer

log = logging.getLogger("standin")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="keep it on loopback: no auth")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("STANDIN_API_KEY"),
        help="key callers must send; prefer STANDIN_API_KEY, which ps does not show",
    )
    parser.add_argument(
        "--app-uid", default=os.environ.get("STANDIN_APP_UID"), help="default STANDIN_APP_UID"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every vendor answer"
    )
    parser.add_argument("--token-format", choices=FORMATS, default="opaque")
    parser.add_argument("--jwt-ttl", type=int, default=3600, help="exp - iat of jwt tokens, s")
    args = parser.parse_args(argv)
    if not args.api_key or not args.app_uid:
        parser.error("--api-key and --app-uid (or STANDIN_API_KEY, STANDIN_APP_UID) are required")
    return args


def build(args: argparse.Namespace) -> StandinServer:
    standin = MindsetStandin(args.api_key, args.app_uid, args.token_format, args.jwt_ttl)
    faults = FaultSwitch(latency_ms=args.latency_ms)
    control = ControlApi(standin, faults)
    server = StandinServer(Router(standin, faults, control))
    control.server_stats = server.stats
    return server


async def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; the exit status."""
    server = build(args)
    try:
        port = await server.start(args.host, args.port)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        # The operator's choice, not a bug: one line saying what to change, no traceback.
        print(
            f"stand-in: port {args.port} on {args.host} is taken; choose another with "
            "STANDIN_PORT (make standin STANDIN_PORT=<port>) or --port",
            file=sys.stderr,
        )
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Start-up objects live forever; freezing them keeps the collector from rescanning them
    # while the benchmark churns through short-lived request objects.
    gc.freeze()
    print(f"STANDIN_READY http://{args.host}:{port}", flush=True)
    log.info("stand-in serving app uid %s on %s:%d", args.app_uid, args.host, port)
    await stop.wait()
    log.info("stand-in stopping")
    await server.close()
    return 0


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed (several times faster), the default loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    args = parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
