# The token broker's production image: gunicorn with gevent workers (gunicorn.conf.py), run as
# an unprivileged user, with a root file system that can be mounted read-only.
#
#   docker build -t mindset-token-broker .
#   docker run --read-only --tmpfs /tmp -p 8000:8000 \
#       -v "$PWD/secrets:/run/secrets:ro" \
#       -e SECRET_KEY_FILE=/run/secrets/secret_key -e MINDSET_API_KEY_FILE=/run/secrets/mindset_api_key \
#       -e MINDSET_API_HOST=acme.api.mindset.ai -e MINDSET_APP_UID=... mindset-token-broker
#
# BASE: any Debian bookworm root file system. Where no image registry is reachable,
# `make image-test` builds one from Debian's packages (debootstrap) and passes it here.
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}

# Python 3.11 from Debian (security updates come with the distribution); the broker's own
# dependencies from PyPI, pinned by requirements.txt, in a virtualenv of their own.
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

# A fixed uid, so volume and secret file permissions can be set for it from outside.
RUN groupadd --system --gid 10001 broker \
    && useradd --system --uid 10001 --gid broker --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin broker

# BUILD_CA_BUNDLE: where the network inspects TLS, a CA bundle mounted for the build only
# (`--volume /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg
# BUILD_CA_BUNDLE=/run/build-ca.crt`); it is used by pip here and not kept in the image.
ARG BUILD_CA_BUNDLE=
COPY requirements.txt /opt/broker/requirements.txt
RUN python3 -m venv /opt/broker/venv \
    && /opt/broker/venv/bin/pip install -q ${BUILD_CA_BUNDLE:+--cert "$BUILD_CA_BUNDLE"} \
        -r /opt/broker/requirements.txt

# The code belongs to root and is only readable by the broker's user: a compromised worker
# cannot change what the next worker runs. .dockerignore lets only these paths in.
WORKDIR /opt/broker/src
COPY flask_token_broker ./flask_token_broker
COPY app ./app
COPY serving ./serving
COPY config.py wsgi.py gunicorn.conf.py ./
# Compiled now: with a read-only root file system Python could not write its caches later.
RUN python3 -m compileall -q /opt/broker/src

# Nothing is read from a dotenv file in the image: settings come from the environment, secrets
# from files (NAME_FILE=/run/secrets/name, the container and orchestrator convention).
# Everything the server writes goes to /tmp (a tmpfs): prometheus_client's multiprocess files
# (gunicorn.conf.py makes a fresh directory there); gunicorn's control socket is off (the
# broker is controlled by signals). Worker
# heartbeats go to /dev/shm, which is memory in every container runtime.
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

# exec form: gunicorn is PID 1 and receives SIGTERM itself (graceful stop, graceful_timeout).
ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py", "--worker-tmp-dir", "/dev/shm"]
CMD ["wsgi:app"]
