# The token broker's production image: gunicorn with gevent workers (gunicorn.conf.py), run as
# an unprivileged user, with a root file system that can be mounted read-only.
#
#   docker build -t mindset-token-broker .
#   docker run --read-only --tmpfs /tmp -p 8000:8000 \
#       -v "$PWD/secrets:/run/secrets:ro" \
#       -e SECRET_KEY_FILE=/run/secrets/secret_key -e MINDSET_API_KEY_FILE=/run/secrets/mindset_api_key \
#       -e MINDSET_API_HOST=acme.api.mindset.ai -e MINDSET_APP_UID=... mindset-token-broker
#
# podman: the same, with limits the host allows. Its runtime's default limits on open files and
# processes are above this kind of host's hard limits, and runc then refuses to start the
# container ("error setting rlimit"); the file limit must also cover a worker's connections.
#
#   podman run --ulimit nofile=4096:4096 --ulimit nproc=1024:1024 --read-only --tmpfs /tmp -p 8000:8000 \
#       -v "$PWD/secrets:/run/secrets:ro" \
#       -e SECRET_KEY_FILE=/run/secrets/secret_key -e MINDSET_API_KEY_FILE=/run/secrets/mindset_api_key \
#       -e MINDSET_API_HOST=acme.api.mindset.ai -e MINDSET_APP_UID=... mindset-token-broker
#
# Reload (settings and secret files read again, workers replaced gracefully): gunicorn is the
# container's PID 1, so `docker kill --signal HUP NAME` (or `podman kill --signal HUP NAME`).
#
# BASE: any Debian bookworm root file system. Where no image registry is reachable,
# `make image-test` builds one from Debian's packages (debootstrap) and passes it here.
ARG BASE=docker.io/library/debian:bookworm-slim

# The build: the broker's dependencies from PyPI, pinned by requirements.txt, in a virtualenv
# of their own. Only the virtualenv leaves this stage; pip and the build's caches stay here.
FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
ENV LANG=C.UTF-8 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv
# BUILD_CA_BUNDLE: where the network inspects TLS, a CA bundle mounted for the build only
# (`--volume /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg
# BUILD_CA_BUNDLE=/run/build-ca.crt`); it is used by pip here and not kept in the image.
ARG BUILD_CA_BUNDLE=
COPY requirements.txt /opt/broker/requirements.txt
# pip and setuptools only install: nothing in requirements.txt needs them to run. Compiled
# now: with a read-only root file system Python could not write its caches later.
RUN python3 -m venv /opt/broker/venv \
    && /opt/broker/venv/bin/pip install -q ${BUILD_CA_BUNDLE:+--cert "$BUILD_CA_BUNDLE"} \
        -r /opt/broker/requirements.txt \
    && /opt/broker/venv/bin/pip uninstall -q -y pip setuptools \
    && python3 -m compileall -q /opt/broker/venv/lib

# The image: Debian's Python 3.11 (security updates come with the distribution), the
# virtualenv (its python is a link to this stage's /usr/bin/python3, the same Debian's) and the
# code. No documentation, manual pages or translations, no package lists or caches.
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
ENV LANG=C.UTF-8
RUN printf '%s\n' \
        'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
        > /etc/dpkg/dpkg.cfg.d/broker-no-docs \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid, so volume and secret file permissions can be set for it from outside.
RUN groupadd --system --gid 10001 broker \
    && useradd --system --uid 10001 --gid broker --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin broker

COPY --from=build /opt/broker/venv /opt/broker/venv

# The code belongs to root and is only readable by the broker's user: a compromised worker
# cannot change what the next worker runs. .dockerignore lets only these paths in.
WORKDIR /opt/broker/src
COPY flask_token_broker ./flask_token_broker
COPY app ./app
COPY serving ./serving
COPY config.py wsgi.py gunicorn.conf.py ./
RUN python3 -m compileall -q /opt/broker/src

# Nothing is read from a dotenv file in the image: settings come from the environment, secrets
# from files (NAME_FILE=/run/secrets/name, the container and orchestrator convention).
# The server writes only to /tmp (a tmpfs: prometheus_client's multiprocess files, in a fresh
# directory gunicorn.conf.py makes) and to /dev/shm (worker heartbeats, memory in every
# container runtime).
ENV PATH=/opt/broker/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    BROKER_ENV_FILE=/dev/null \
    PORT=8000
VOLUME ["/tmp"]
USER broker
EXPOSE 8000

# Liveness: /healthz answers whenever a worker does. No curl in the image: Python's own urllib.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=2)"]

# exec form: gunicorn is PID 1 and receives SIGTERM (graceful stop, graceful_timeout) and
# SIGHUP (reload) itself.
ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py", "--worker-tmp-dir", "/dev/shm"]
CMD ["wsgi:app"]
