"""Where the broker's CPU goes in a row: the vendor call's share against the rest.

``py-spy`` samples every worker of the server (the master's ``--subprocesses``) while wrk
drives the row's load, in a pass of its own after the measured window (sampling costs CPU
too, so it must not touch the row's figures). A sample is the vendor call's when its stack
holds :meth:`MindsetClient.authenticate <flask_token_broker.mindset.client.MindsetClient>`:
building the request, ``requests``/``urllib3``, the socket and reading the answer. Idle
samples (a worker waiting in its event loop) are not recorded, so the shares are of the CPU
the workers spent.
"""

from __future__ import annotations

import re
import shutil
import subprocess  # nosec B404
from dataclasses import dataclass
from pathlib import Path

# The vendor call's frame, as py-spy names it (with the class, in recent versions):
# "MindsetClient.authenticate (flask_token_broker/mindset/client.py:NN)".
VENDOR_CALL = re.compile(r"(?:^|;)(?:\w+\.)?authenticate \([^;]*mindset/client\.py:\d+\)")
SAMPLE_RATE = 250
# (subprocess: py-spy is a local process the benchmark starts itself.)
PY_SPY = shutil.which("py-spy") or str(Path(__file__).resolve().parent.parent / ".venv/bin/py-spy")


@dataclass(frozen=True)
class CpuSplit:
    samples: int
    vendor_call_samples: int

    @property
    def vendor_call_share(self) -> float:
        return self.vendor_call_samples / self.samples if self.samples else 0.0


def split_of(raw: str) -> CpuSplit:
    """Count py-spy's raw (collapsed) stacks: ``frame;frame;... count`` per line."""
    samples = vendor = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples += int(count)
        if VENDOR_CALL.search(stack):
            vendor += int(count)
    return CpuSplit(samples, vendor)


def start_recording(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on ``pid`` and its children for ``seconds``; read the split with :func:`read`."""
    # A fixed argv of the benchmark's own making, no shell.
    return subprocess.Popen(  # nosec B603
        [
            PY_SPY,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--rate",
            str(SAMPLE_RATE),
            "--duration",
            str(max(1, round(seconds))),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def read(recording: subprocess.Popen[bytes], out: Path, timeout: float) -> CpuSplit | str:
    """The split, or why there is none (py-spy missing, not allowed to attach...)."""
    try:
        _, stderr = recording.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        recording.kill()
        recording.communicate()
        return "py-spy did not finish"
    if recording.returncode != 0 or not out.exists():
        return (stderr.decode(errors="replace").strip().splitlines() or ["py-spy failed"])[0]
    return split_of(out.read_text())
