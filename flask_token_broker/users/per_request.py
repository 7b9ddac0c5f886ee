"""Who is signed in, asked at most once per request whoever asks first."""

from __future__ import annotations

from flask import g, has_request_context

from . import CurrentUser, UserResolver


def once_per_request(resolve: UserResolver) -> UserResolver:
    """Resolve the user at most once per request, its answer or its failure kept on ``g``.

    The rate limiter asks who is signed in before the view does; a JWT resolver fetching keys
    from a failing identity provider must not pay that timeout twice in one request.
    """

    def resolve_once() -> CurrentUser | None:
        if not has_request_context():
            return resolve()
        if "_broker_user" not in g:
            try:
                g._broker_user = (resolve(), None)
            except Exception as error:
                g._broker_user = (None, error)
        user, failure = g._broker_user
        if failure is not None:
            raise failure
        return user  # type: ignore[no-any-return]

    return resolve_once
