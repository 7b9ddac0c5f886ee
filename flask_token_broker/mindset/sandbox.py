"""The built-in sandbox: the stand-in Mindset API, answered inside the broker's process.

With no vendor settings at all, the broker still runs the production code path: the same
:class:`~flask_token_broker.mindset.client.MindsetClient`, the same ``requests.Session``, URL,
headers and JSON body. Only the last step differs: a transport adapter mounted on the sandbox
origin hands the prepared request to the stand-in's handler instead of a socket. Its tokens
are obviously fake and worthless anywhere else.

The handler is the vendor contract that the repository's stand-in server (``python -m
standin``) also serves over HTTP: :mod:`flask_token_broker.sandbox_vendor`, standard library
only.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPResponse

from ..sandbox_vendor.mindset import MindsetStandin, StandinRequest


class SandboxAdapter(BaseAdapter):
    """A ``requests`` transport that answers from a :class:`MindsetStandin` in memory."""

    def __init__(self, standin: MindsetStandin) -> None:
        super().__init__()
        self.standin = standin
        # Only its documented build_response is used: it never opens a connection.
        self.responses = HTTPAdapter()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        path = url.path + (f"?{url.query}" if url.query else "")
        body = request.body or b""
        answer = self.standin.handle(
            StandinRequest(
                method=request.method or "GET",
                path=path,
                headers=dict(request.headers),
                body=body.encode() if isinstance(body, str) else bytes(body),
            )
        )
        # The answer as urllib3 would have read it off a socket, turned into a requests
        # Response the way HTTPAdapter does: the client reads its body as it reads any other.
        raw = HTTPResponse(
            body=io.BytesIO(answer.body),
            headers=dict(answer.headers),
            status=answer.status,
            reason="Sandbox",
            preload_content=False,
            decode_content=False,
        )
        return self.responses.build_response(request, raw)

    def close(self) -> None:
        """Nothing to release: no sockets are ever opened."""
        self.responses.close()


def mount_sandbox(session: requests.Session, base_url: str, api_key: str, app_uid: str) -> None:
    """Route every request for ``base_url`` on ``session`` to an in-process stand-in."""
    session.mount(base_url, SandboxAdapter(MindsetStandin(api_key=api_key, app_uid=app_uid)))
