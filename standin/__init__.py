"""A stand-in for the Mindset AI auth API, for tests, local runs and the benchmark.

The vendor's contract itself ships inside the extension (:mod:`flask_token_broker.sandbox_vendor`),
since the broker's built-in sandbox answers from it in process; this package serves it over
HTTP: ``faults`` the failure modes, ``control`` the ``/_standin/`` test API, ``router`` the
dispatch, ``server`` the asyncio HTTP/1.1 server and ``__main__`` the command line.
"""

from flask_token_broker.sandbox_vendor.mindset import (
    MindsetStandin,
    StandinRequest,
    StandinResponse,
)
from flask_token_broker.sandbox_vendor.tokens import token_claims

__all__ = ["MindsetStandin", "StandinRequest", "StandinResponse", "token_claims"]
