"""The broker's version: the one place it is written (the distribution reads it when it is
built; a test checks the wheel). Read by ``flask --app wsgi broker version``, ``/healthz``, the
start-up line and the ``broker_build_info`` metric, so an operator sees the same number
wherever they look."""

VERSION = "1.0.0"
