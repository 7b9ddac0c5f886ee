"""Serve the example host: ``python -m examples.flask_login_host [--port 0]``.

Settings come from the environment (``MINDSET_*``, ``TYPINGMIND_*``, ``BROKER_*``,
``SECRET_KEY``, ``HOST_DEMO_PASSWORD``). Prints ``HOST_READY http://127.0.0.1:PORT`` once it
listens, so a script (or a test) starting it with ``--port 0`` learns the port.
"""

from __future__ import annotations

import argparse
import os

from werkzeug.serving import make_server

from flask_token_broker.observability.logs import configure_logging

from .app import create_host_app

PREFIXES = ("MINDSET_", "TYPINGMIND_", "BROKER_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    configure_logging()
    config = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(PREFIXES) or name in ("SECRET_KEY", "HOST_DEMO_PASSWORD")
    }
    server = make_server(args.host, args.port, create_host_app(config), threaded=True)
    print(f"HOST_READY http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
