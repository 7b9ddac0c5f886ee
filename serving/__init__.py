"""The production server's worker: gunicorn's gevent worker, hardened.

``gunicorn.conf.py`` runs :data:`WORKER_CLASS`, one model for every deployment: gevent keeps
hundreds of requests waiting on the vendor per worker at a fraction of a thread's cost, and
it withstood every slow-client attack tried against the server. It adds what gunicorn 27
lacks (it has no header-read timeout):

- a request's line and headers must arrive within ``BROKER_HEADER_TIMEOUT`` seconds (from the
  connection's start for its first request, from the first byte for a kept-alive one), or the
  connection is closed, with ``408`` if part of a request had arrived;
- a worker at ``BROKER_WORKER_CONNECTIONS`` keeps accepting: each new connection displaces the
  one that has waited longest for a request (still sending its headers, or idle between
  requests), so slow clients cannot lock real ones out; requests being served are never cut;
- the server's own refusals (400, 408, 414, 431...) use the broker's JSON error shape.

Nothing here imports the Flask app: gunicorn loads the worker class in the master process,
before a gevent worker monkey-patches the standard library.
"""

WORKER_CLASS = "serving.gevent_worker.GeventWorker"
