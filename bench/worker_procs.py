"""`nhi worker` processes for the benchmarks: started as a deployment runs them, read through their /metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from transport.topics import Topics

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_worker(
    bootstrap: str, topics: Topics, env: dict[str, str], processes: int = 1
) -> subprocess.Popen[bytes]:
    full = {**os.environ, "NHI_TOPIC_PARTITIONS": str(topics.partitions), **env}
    cmd = [
        sys.executable,
        "-m",
        "nhi",
        "worker",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        topics.prefix,
        "-q",
    ]
    if processes > 1:
        cmd += ["--processes", str(processes)]
    return subprocess.Popen(cmd, cwd=ROOT, env=full, stderr=subprocess.DEVNULL)


def scrape(port: int) -> dict[str, float]:
    """A worker process's counters from its /metrics (empty while it is not serving yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(("nhi_worker_events_in_total ", "nhi_worker_events_judged_total ")):
            name, value = line.split()
            out[name] = float(value)
    return out
