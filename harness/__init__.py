"""Real local parts for the tests and the benchmark: never imported by the product.

``processes`` starts a child process, waits until it is ready and stops it for sure;
``standin_process``, ``gunicorn_server`` and ``redis_process`` run the stand-in vendor, the
broker under its production server and a redis-server that way; ``cookies`` signs session
cookies as a host app would; ``container_run`` reads the run lines the Dockerfile documents.
``tests/`` and ``bench/`` both use them, so a fix to how a process is started or stopped is
made once.
"""
