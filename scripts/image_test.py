"""Run the built image with podman and prove it serves: ``make image-test`` (after the build).

Checks the image's size against a limit (MAX_IMAGE_MB). Starts the stand-in vendor on
loopback, runs the broker's container against it as production would (read-only root file
system, /tmp a tmpfs, every capability dropped, secrets in files mounted read-only, the limits
the Dockerfile's podman run line sets), waits for podman's health check to say ``healthy``,
signs a session cookie with the container's ``SECRET_KEY``, gets a token through
``/api/getusertoken`` and checks what the stand-in received. Reloads the server with
``podman kill --signal HUP`` and waits for new workers. Then stops the container (SIGTERM, as
an orchestrator would) and removes it. Any failure prints the container's log and exits 1.

``IMAGE_TEST_SECRETS``: ``files`` (the default: secrets only as NAME_FILE, so an image that
cannot read them fails), ``env`` (as plain variables) or ``auto`` (files when the image's
``config check`` accepts them, else variables, saying so).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import requests

from flask_token_broker.sandbox_vendor.tokens import token_claims
from harness.container_run import podman_limits
from harness.cookies import session_cookie
from harness.standin_process import StandinProcess

# crun, podman's default on Debian, fails on this kernel's cgroup setup; runc works.
PODMAN = [shutil.which("podman") or "/usr/bin/podman", "--runtime", "runc"]
# The image as built, in MB (10**6 bytes, as podman shows it): a Debian bookworm-slim base
# (about 75), Python (about 30) and the virtualenv (about 60).
MAX_IMAGE_MB = 200
HEALTHY_WITHIN = 60.0
RELOADED_WITHIN = 30.0
WORKERS = 2
READY_LINE = '"msg": "broker ready'
STOP_GRACE = 20  # seconds podman waits after SIGTERM before SIGKILL
COMMAND_TIMEOUT = 60.0
SECRETS_IN_CONTAINER = "/run/secrets"
APP_UID = "image-test-app"
USER_ID = "image-test-user"
# The image's unprivileged user (Dockerfile: useradd --uid 10001).
BROKER_UID = "10001"


class ImageTestError(Exception):
    """A step of the test failed; the message says which and what was seen."""


def say(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def run_podman(*args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    # argv built here from fixed words, the image name and generated values; no shell.
    return subprocess.run(  # noqa: S603
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def podman(*args: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Runs ``podman args`` and returns its stdout; a failure raises with its stderr."""
    done = run_podman(*args, timeout=timeout)
    if done.returncode != 0:
        raise ImageTestError(
            f"podman {args[0]} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    return done.stdout.strip()


def succeeds(*args: str, timeout: float = COMMAND_TIMEOUT) -> bool:
    return run_podman(*args, timeout=timeout).returncode == 0


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def secret_files(values: dict[str, str]) -> Iterator[Path]:
    """A directory of secret files the container's user (uid 10001) can read, removed after."""
    directory = Path(tempfile.mkdtemp(prefix="broker-image-secrets-"))
    try:
        directory.chmod(0o755)
        for name, value in values.items():
            path = directory / name
            path.write_text(value)
            path.chmod(0o444)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def secret_settings(mode: str, values: dict[str, str]) -> list[str]:
    """``-e`` options giving the secrets as NAME_FILE (``files``) or as NAME (``env``)."""
    options: list[str] = []
    for name, value in values.items():
        setting = name.upper()
        if mode == "files":
            options += ["-e", f"{setting}_FILE={SECRETS_IN_CONTAINER}/{name}"]
        else:
            options += ["-e", f"{setting}={value}"]
    return options


def container_options(secrets_dir: Path) -> list[str]:
    """How production runs the image: nothing writable but /tmp, no capabilities, no root."""
    return [
        "--network", "host",  # the stand-in and the published port are on loopback
        *podman_limits(),
        "--read-only",
        "--tmpfs", "/tmp:rw,size=64m,mode=1777",  # noqa: S108 - the container's own tmpfs
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "-v", f"{secrets_dir}:{SECRETS_IN_CONTAINER}:ro",
    ]  # fmt: skip


def check_size(image: str) -> None:
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", image)) / 1e6
    if size_mb > MAX_IMAGE_MB:
        raise ImageTestError(f"the image is {size_mb:.0f} MB, above the {MAX_IMAGE_MB} MB limit")
    say(f"image size: {size_mb:.0f} MB (limit {MAX_IMAGE_MB} MB)")


def files_supported(image: str, base_options: list[str], settings: list[str]) -> bool:
    """Whether the image's ``config check`` accepts the secrets as NAME_FILE alone."""
    return succeeds(
        "run", "--rm", *base_options, *settings, "-e", "BROKER_ENV=production",
        "--entrypoint", "flask", image, "--app", "wsgi", "config", "check",
    )  # fmt: skip


def wait_healthy(name: str) -> float:
    """Runs podman's health check (the image's HEALTHCHECK) until it passes; seconds taken.

    Podman schedules health checks with systemd timers; where systemd is not running (this
    machine, most CI) ``podman healthcheck run`` runs the same check and records its result.
    """
    started = time.monotonic()
    deadline = started + HEALTHY_WITHIN
    while time.monotonic() < deadline:
        state = podman("inspect", "--format", "{{.State.Status}}", name)
        if state != "running":
            raise ImageTestError(f"the container is {state}, not running")
        if succeeds("healthcheck", "run", name, timeout=15):
            break
        time.sleep(0.5)
    status = podman("inspect", "--format", "{{.State.Health.Status}}", name)
    if status != "healthy":
        raise ImageTestError(f"health check still {status!r} after {HEALTHY_WITHIN:.0f} s")
    return time.monotonic() - started


def check_token_flow(url: str, secret_key: str, vendor: StandinProcess) -> None:
    cookie = session_cookie({"user_id": USER_ID}, secret_key)
    resp = requests.get(
        f"{url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=10
    )
    if resp.status_code != 200:
        raise ImageTestError(f"GET /api/getusertoken answered {resp.status_code}: {resp.text}")
    token = resp.json().get("authToken", "")
    if token_claims(token).get("sub") != USER_ID:
        raise ImageTestError(f"the token is not for {USER_ID}: {token_claims(token)}")
    calls = vendor.requests()
    if vendor.stats()["auth_calls"] != 1 or len(calls) != 1:
        raise ImageTestError(f"the stand-in saw {len(calls)} requests, expected one auth call")
    call = calls[0]
    if call["headers"].get("x-api-key") != vendor.api_key or APP_UID not in call["path"]:
        raise ImageTestError(f"the auth call had the wrong key or app uid: {call['path']}")
    say(f"token flow: 200, a stand-in token for {USER_ID}, one auth call with the right key")


def check_confinement(name: str) -> None:
    """The server runs as the image's user and cannot write outside /tmp."""
    uid = podman("exec", name, "python3", "-c", "import os; print(os.getuid())")
    if uid != BROKER_UID:
        raise ImageTestError(f"the server runs as uid {uid}, not {BROKER_UID}")
    for path in ("/opt/broker/src/wsgi.py", "/etc/image-test"):
        if _python_succeeds(name, f"open({path!r}, 'a')"):
            raise ImageTestError(f"the server's user can write {path}")
    if not _python_succeeds(name, "open('/tmp/image-test', 'w')"):
        raise ImageTestError("the server's user cannot write /tmp")
    say(f"confinement: uid {uid}, root file system read-only, /tmp writable")


def _python_succeeds(name: str, code: str) -> bool:
    return succeeds("exec", name, "python3", "-c", code)


def container_logs(name: str) -> str:
    done = run_podman("logs", name)
    return done.stdout + done.stderr


def check_reload(name: str) -> None:
    """``podman kill --signal HUP`` reaches gunicorn, the container's PID 1: the configuration is
    read again, new workers start and the server stays healthy."""
    ready_before = container_logs(name).count(READY_LINE)
    podman("kill", "--signal", "HUP", name)
    deadline = time.monotonic() + RELOADED_WITHIN
    while True:
        logs = container_logs(name)
        reloaded = "broker configuration reloaded" in logs
        if reloaded and logs.count(READY_LINE) >= ready_before + WORKERS:
            break
        if time.monotonic() > deadline:
            raise ImageTestError(
                f"no reload within {RELOADED_WITHIN:.0f} s of SIGHUP (reload logged: {reloaded})"
            )
        time.sleep(0.5)
    if not succeeds("healthcheck", "run", name, timeout=15):
        raise ImageTestError("the health check fails after the reload")
    say(f"reload: SIGHUP started {WORKERS} new workers, still healthy")


def check_logs_hold_no_secret(name: str, values: Sequence[str]) -> None:
    logs = container_logs(name)
    if any(value in logs for value in values):
        raise ImageTestError("a secret appears in the container's log")
    if '"msg": "broker ready' not in logs:
        raise ImageTestError("no 'broker ready' line in the container's log")


def stop(name: str) -> None:
    """SIGTERM as an orchestrator sends it; gunicorn must stop cleanly within the grace."""
    started = time.monotonic()
    podman("stop", "-t", str(STOP_GRACE), name, timeout=STOP_GRACE + 30)
    code = podman("inspect", "--format", "{{.State.ExitCode}}", name)
    took = time.monotonic() - started
    if code != "0":
        raise ImageTestError(f"the server exited {code} on SIGTERM")
    say(f"stopped on SIGTERM in {took:.1f} s, exit code 0")


def run(image: str, mode: str) -> None:
    values = {
        "secret_key": secrets.token_urlsafe(48),
        "mindset_api_key": "mk-" + secrets.token_urlsafe(24),
    }
    name = f"broker-image-test-{os.getpid()}"
    port = free_loopback_port()
    with (
        secret_files(values) as secrets_dir,
        StandinProcess(values["mindset_api_key"], APP_UID) as vendor,
    ):
        base = container_options(secrets_dir)
        settings = [
            "-e", f"PORT={port}",
            "-e", f"BROKER_WORKERS={WORKERS}",
            "-e", f"MINDSET_API_HOST={vendor.url}",
            "-e", f"MINDSET_APP_UID={APP_UID}",
        ]  # fmt: skip
        if mode == "auto":
            as_files = settings + secret_settings("files", values)
            mode = "files" if files_supported(image, base, as_files) else "env"
            if mode == "env":
                say("this broker does not read NAME_FILE yet: secrets go as variables")
        say(
            "secrets as "
            + ("NAME_FILE, files mounted read-only" if mode == "files" else "variables")
        )
        try:
            podman(
                "run", "-d", "--name", name, *base, *settings, *secret_settings(mode, values), image
            )
            took = wait_healthy(name)
            say(f"podman health check: healthy {took:.1f} s after start")
            check_token_flow(f"http://127.0.0.1:{port}", values["secret_key"], vendor)
            check_confinement(name)
            check_reload(name)
            check_logs_hold_no_secret(name, list(values.values()))
            stop(name)
        except BaseException:
            logs = run_podman("logs", "--tail", "40", name)
            print(logs.stdout + logs.stderr, file=sys.stderr)
            raise
        finally:
            run_podman("rm", "-f", "-t", "0", name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    options = parser.parse_args(argv)
    mode = os.environ.get("IMAGE_TEST_SECRETS", "files")
    if mode not in ("auto", "files", "env"):
        parser.error("IMAGE_TEST_SECRETS must be auto, files or env")

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(f"image-test: stopped by signal {signum}")

    # `make` and CI stop with SIGTERM: the container and the stand-in are still cleaned up.
    signal.signal(signal.SIGTERM, interrupted)
    try:
        check_size(options.image)
        run(options.image, mode)
    except (ImageTestError, subprocess.TimeoutExpired, requests.RequestException) as error:
        print(f"image-test: FAILED: {error}", file=sys.stderr)
        return 1
    say("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
