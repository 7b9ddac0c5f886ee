"""The Mindset auth API's documented contract, without a transport: what the broker's built-in
sandbox answers in process (:mod:`..mindset.sandbox`) and what the repository's stand-in
server (``python -m standin``) serves over HTTP for tests and local trials.

Standard library only, so it can answer inside any process that holds the broker.
"""
