#!/usr/bin/env python3
"""A real, local, single-node Apache Kafka (KRaft) broker for tests and CI, without Docker.

    python .ci/kafka/broker.py up       # start (or reuse) a broker; prints host:port on stdout
    python .ci/kafka/broker.py status   # exit 0 and print host:port when a healthy broker runs
    python .ci/kafka/broker.py down     # stop it and delete .kafka/ (the jar cache is kept)
    python .ci/kafka/broker.py restart  # stop it and start it again: same ports, same data

    --dir DIR (before the command) runs an independent broker with its state in DIR instead of
    .kafka/: tests that stop or restart a broker use their own, never the shared one.

The broker jars come from Maven Central via .ci/kafka/pom.xml (Maven's ~/.m2 plus a per-version copy
under ~/.cache/nhi-evidence make repeat runs fast). State lives in <repo>/.kafka/: bootstrap, pid,
server.properties, log4j2.properties, broker.log and data/.

Stdlib only on purpose: it runs before (and independently of) the project's own dependencies.

Environment overrides:
    NHI_KAFKA_VERSION        Kafka version to fetch (default: KAFKA_VERSION below)
    NHI_KAFKA_CACHE_DIR      jar cache root (default: $XDG_CACHE_HOME or ~/.cache, then /nhi-evidence)
    NHI_KAFKA_START_TIMEOUT  seconds to wait for the broker to answer metadata (default 60)
    NHI_KAFKA_HEAP           JVM max heap (default 512m)
    JAVA_HOME / MVN          which java / mvn to use
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

# The probe lives beside this script; importable whether run as a script or loaded by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_files import HOST, State, free_port, jvm_args, random_cluster_id, write_configs
from kafka_probe import ClusterInfo, ProbeError, is_healthy, probe
from kafka_toolchain import (
    cache_root,
    check_java,
    die,
    ensure_jars,
    file_lock,
    java_bin,
    log,
)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
STATE_DIR = REPO_ROOT / ".kafka"
STOP_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------------- locking


def repo_lock(state_root: Path = STATE_DIR) -> contextlib.AbstractContextManager[None]:
    # Outside the state dir because `down` deletes that directory while holding the lock. The
    # default broker keeps its historical key (the checkout); a --dir broker is keyed by its dir.
    base = REPO_ROOT if state_root == STATE_DIR else state_root.resolve()
    key = hashlib.sha256(str(base).encode()).hexdigest()[:16]
    return file_lock(cache_root() / "locks" / f"broker-{key}.lock")


# -------------------------------------------------------------------------------------------- process


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    # No /proc (macOS): fall back to ps.
    out = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def broker_pid(state: State) -> int | None:
    """The pid from .kafka/pid if that process is alive *and* is our broker (pids get reused)."""
    raw = read_text(state.pid)
    if not raw or not raw.isdigit():
        return None
    pid = int(raw)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    cmd = _cmdline(pid)
    if "kafka.Kafka" not in cmd or str(state.server_properties) not in cmd:
        return None
    return pid


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no broker log)"


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (graceful: Kafka flushes and closes its logs), then SIGKILL the whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # Reap it if it is our child (only when `up` fails); otherwise this is a no-op.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    log(f"broker pid {pid} ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------- commands


def healthy_address(state: State) -> str | None:
    addr = read_text(state.bootstrap)
    if addr and broker_pid(state) is not None and is_healthy(addr):
        return addr
    return None


def cmd_up(state: State) -> int:
    t_start = time.monotonic()
    with repo_lock(state.root):
        addr = healthy_address(state)
        if addr:
            log(f"already running at {addr} (pid {read_text(state.pid)})")
            print(addr)
            return 0
        # Anything left over (crashed broker, stale pid, half-written dirs) is discarded: tests want a clean slate.
        _teardown(state, quiet=True)

        java = java_bin()
        check_java(java)
        lib = ensure_jars()

        state.root.mkdir(parents=True, exist_ok=True)
        state.data.mkdir()
        broker_port = free_port()
        controller_port = free_port()
        while controller_port == broker_port:
            controller_port = free_port()
        addr = f"{HOST}:{broker_port}"
        write_configs(state, broker_port, controller_port)

        cluster_id = random_cluster_id()
        log(f"format: cluster {cluster_id}, log.dirs {state.data}")
        fmt = subprocess.run(
            [
                *jvm_args(state, lib, short_lived=True),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(state.server_properties),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            sys.stderr.write(fmt.stdout[-4000:] + fmt.stderr[-4000:])
            die(f"kafka-storage format failed (exit {fmt.returncode})")

        log(f"start: broker {addr}, controller {HOST}:{controller_port}, log {state.broker_log}")
        info = _start(state, lib, addr)
        if info is None:
            _teardown(state, quiet=True, keep_log=True)
            return 1
        # Written last so a present bootstrap file implies a broker that answered metadata.
        state.bootstrap.write_text(addr + "\n")
        log(
            f"ready: {addr} (cluster {info.cluster_id}, pid {read_text(state.pid)}) in {time.monotonic() - t_start:.1f}s"
        )
        print(addr)
        return 0


def _start(state: State, lib: Path, addr: str) -> ClusterInfo | None:
    """Launch the broker on an existing (formatted) state dir and wait until it answers metadata."""
    with state.broker_log.open("ab") as out:
        # New session: the broker survives this script (and make) exiting, and down can kill its group.
        proc = subprocess.Popen(
            [*jvm_args(state, lib), "kafka.Kafka", str(state.server_properties)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=state.root,
            start_new_session=True,
        )
    state.pid.write_text(f"{proc.pid}\n")

    budget = float(os.environ.get("NHI_KAFKA_START_TIMEOUT", "60"))
    deadline = time.monotonic() + budget
    last_err = "no attempt"
    while True:
        if proc.poll() is not None:
            log(
                f"broker exited with code {proc.returncode} during startup; last lines of {state.broker_log}:"
            )
            sys.stderr.write(tail(state.broker_log) + "\n")
            return None
        try:
            return probe(addr)
        except (OSError, ProbeError, struct.error, ValueError) as exc:
            last_err = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            log(f"broker not ready after {budget:.0f}s ({last_err}); last lines of {state.broker_log}:")
            sys.stderr.write(tail(state.broker_log) + "\n")
            stop_pid(proc.pid, timeout=10)
            return None
        time.sleep(0.2)


def cmd_restart(state: State) -> int:
    """Stop the running broker and start it again on the same ports and data (clients reconnect)."""
    with repo_lock(state.root):
        addr = read_text(state.bootstrap)
        pid = broker_pid(state)
        if addr is None or pid is None:
            log("not running; use up")
            return 1
        log(f"restart: stopping broker pid {pid}")
        stop_pid(pid)
        state.bootstrap.unlink(missing_ok=True)
        info = _start(state, ensure_jars(), addr)
        if info is None:
            return 1
        state.bootstrap.write_text(addr + "\n")
        log(f"ready again: {addr} (pid {read_text(state.pid)})")
        print(addr)
        return 0


def _teardown(state: State, *, quiet: bool, keep_log: bool = False) -> None:
    pid = broker_pid(state)
    if pid is not None:
        if not quiet:
            log(f"stopping broker pid {pid}")
        stop_pid(pid)
    if not state.root.exists():
        return
    if keep_log:
        # Keep broker.log for post-mortems of a failed `up`; drop everything that implies a live broker.
        for child in state.root.iterdir():
            if child != state.broker_log:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    else:
        shutil.rmtree(state.root, ignore_errors=True)


def cmd_down(state: State) -> int:
    with repo_lock(state.root):
        if not state.root.exists() and broker_pid(state) is None:
            log("not running")
            return 0
        _teardown(state, quiet=False)
        log(f"stopped; removed {state.root} (jar cache kept in {cache_root()})")
    return 0


def cmd_status(state: State) -> int:
    addr = healthy_address(state)
    if addr:
        log(f"running at {addr} (pid {read_text(state.pid)})")
        print(addr)
        return 0
    pid = broker_pid(state)
    if pid is not None:
        log(f"pid {pid} is running but not answering metadata; see {state.broker_log}")
    else:
        log("not running")
    return 1


def main(argv: list[str]) -> int:
    commands = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "restart": cmd_restart}
    root = STATE_DIR
    if len(argv) == 3 and argv[0] == "--dir":
        root, argv = Path(argv[1]).resolve(), argv[2:]
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: {Path(__file__).name} [--dir DIR] up|down|status|restart", file=sys.stderr)
        return 2
    return commands[argv[0]](State(root))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
