"""A stand-in for the Mindset AI auth API, for tests, local runs and the benchmark.

``mindset`` holds the transport-free contract, ``faults`` the failure modes, ``control`` the
``/_standin/`` test API, ``server`` the asyncio HTTP/1.1 server and ``__main__`` the command line.
"""

from standin.mindset import MindsetStandin, StandinRequest, StandinResponse
from standin.tokens import token_claims

__all__ = ["MindsetStandin", "StandinRequest", "StandinResponse", "token_claims"]
