"""A stand-in for the Mindset AI auth API, for tests, local runs and the benchmark.

The product imports it too: the broker's sandbox (``app/sandbox.py``) answers from
:class:`MindsetStandin` in process when no vendor is configured, so this package ships with the
broker. What the sandbox reaches (this module, ``mindset``, ``tokens``, ``validate``,
``messages``, ``journal``) stays standard-library only and imports nothing from ``app``.

``mindset`` holds the transport-free contract, ``faults`` the failure modes, ``control`` the
``/_standin/`` test API, ``server`` the asyncio HTTP/1.1 server and ``__main__`` the command line.
"""

from standin.mindset import MindsetStandin, StandinRequest, StandinResponse
from standin.tokens import token_claims

__all__ = ["MindsetStandin", "StandinRequest", "StandinResponse", "token_claims"]
