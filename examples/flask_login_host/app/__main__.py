"""Serve the host for a trial: ``python -m app [--host 127.0.0.1] [--port 8000]``.

Settings come from the environment (``config.py``). Prints ``HOST_READY http://HOST:PORT``
once it listens, so a script starting it with ``--port 0`` learns the port. Production
serves ``create_app()`` with a WSGI server, as any Flask app.
"""

from __future__ import annotations

import argparse

from flask_token_broker import configure_logging
from werkzeug.serving import make_server

from . import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # The broker's log lines as JSON on stderr; a host with its own logging set-up skips this.
    configure_logging()
    server = make_server(args.host, args.port, create_app(), threaded=True)
    print(f"HOST_READY http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
