"""The toolchain of .ci/kafka/broker.py: Java, and the broker's jars from Maven Central, cached.

Stdlib only, like broker.py: it runs before the project's own dependencies are installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

# 4.1.x: the newest line whose broker runs on Java 17 (what CI and dev machines have) and whose
# StorageTool supports `--standalone` dynamic quorums. Keep in sync with pom.xml's default.
KAFKA_VERSION = "4.1.1"
# log4j-slf4j2-impl gives the broker a real log; broker.log is what we print when startup fails.
LOG4J_VERSION = "2.25.2"
MIN_JAVA = 17

POM = Path(__file__).resolve().parent / "pom.xml"


def log(msg: str) -> None:
    print(f"[kafka] {msg}", file=sys.stderr, flush=True)


def die(msg: str, code: int = 1) -> NoReturn:
    log(f"ERROR: {msg}")
    sys.exit(code)


def cache_root() -> Path:
    env = os.environ.get("NHI_KAFKA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nhi-evidence"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise concurrent `up`/`down` (parallel make, pytest sessions) on one checkout or one cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        die(f"java not found: install a JDK >= {MIN_JAVA} (Kafka 4 brokers need Java {MIN_JAVA}+)")
    return found


def check_java(java: str) -> None:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        log(f"could not parse `java -version` output; continuing: {out.strip()[:200]}")
        return
    major = int(m.group(1))
    if major == 1 and m.group(2):  # "1.8.0_x" style
        major = int(m.group(2))
    if major < MIN_JAVA:
        die(f"{java} is Java {major}; Kafka {kafka_version()} brokers need Java {MIN_JAVA}+ (set JAVA_HOME)")


def kafka_version() -> str:
    return os.environ.get("NHI_KAFKA_VERSION", KAFKA_VERSION)


def ensure_jars() -> Path:
    """Return a directory holding the broker's full runtime classpath, fetching it once per version+pom."""
    version = kafka_version()
    home = cache_root() / f"kafka-{version}"
    lib = home / "lib"
    marker = home / "complete"
    # The pom's hash is part of the key so editing it (say a log4j bump) refreshes the cache.
    want = hashlib.sha256(POM.read_bytes() + f"{version}|{LOG4J_VERSION}".encode()).hexdigest()

    def ready() -> bool:
        return (
            marker.exists()
            and marker.read_text().strip() == want
            and (lib / f"kafka_2.13-{version}.jar").exists()
        )

    if ready():
        log(f"jars: cached Kafka {version} in {lib}")
        return lib
    with file_lock(cache_root() / "locks" / f"kafka-{version}.lock"):
        if ready():  # another process fetched it while we waited
            return lib
        mvn = os.environ.get("MVN") or shutil.which("mvn")
        if not mvn:
            die("mvn not found: Maven fetches the Kafka jars from Maven Central (apt install maven)")
        tmp = home / f"lib.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"jars: fetching Kafka {version} with Maven into {lib} (first run only)")
        t0 = time.monotonic()
        cmd = [
            mvn,
            "-B",
            "-q",
            # -U: Maven otherwise caches a failed download (flaky network) and refuses to retry for a day.
            "-U",
            "-f",
            str(POM),
            f"-Dkafka.version={version}",
            f"-Dlog4j.version={LOG4J_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not (tmp / f"kafka_2.13-{version}.jar").exists():
            # Debian's Maven emits ANSI resets even in batch mode; keep CI logs readable.
            sys.stderr.write(re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout[-4000:] + proc.stderr[-4000:]))
            shutil.rmtree(tmp, ignore_errors=True)
            die(f"Maven could not fetch org.apache.kafka:kafka_2.13:{version} (exit {proc.returncode})")
        shutil.rmtree(lib, ignore_errors=True)
        tmp.rename(lib)
        marker.write_text(want + "\n")
        n = len(list(lib.glob("*.jar")))
        log(f"jars: {n} jars in {time.monotonic() - t0:.1f}s")
    return lib
