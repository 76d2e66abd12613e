"""The readiness probe of .ci/kafka/broker.py: a Kafka Metadata request over a plain socket.

Stdlib only, like broker.py: it runs before the project's own dependencies are installed.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

API_VERSIONS = 18
METADATA = 3
# Kafka 4 dropped Metadata < v4 (KIP-896); v9+ switch to "flexible" encodings we don't want to hand-roll.
METADATA_MIN_V, METADATA_MAX_V = 4, 8


class ProbeError(Exception):
    pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProbeError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _call(sock: socket.socket, api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """One request/response round trip using request header v1 and response header v0 (non-flexible)."""
    client_id = b"nhi-broker-probe"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (cid,) = struct.unpack_from(">i", resp, 0)
    if cid != correlation_id:
        raise ProbeError(f"correlation id mismatch {cid} != {correlation_id}")
    return resp[4:]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def int16(self) -> int:
        (v,) = struct.unpack_from(">h", self.data, self.pos)
        self.pos += 2
        return int(v)

    def int32(self) -> int:
        (v,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return int(v)

    def string(self) -> str | None:
        n = self.int16()
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s


@dataclass(frozen=True)
class ClusterInfo:
    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    controller_id: int


def probe(bootstrap: str, timeout: float = 2.0) -> ClusterInfo:
    """Ask the broker for cluster metadata over the Kafka protocol; raises ProbeError/OSError when not ready.

    A TCP connect alone is not enough: the socket opens before the broker has joined the KRaft quorum and
    been unfenced, and clients would then see NOT_CONTROLLER / empty metadata.
    """
    host, _, port = bootstrap.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        r = _Reader(_call(sock, API_VERSIONS, 0, 1, b""))
        err = r.int16()
        if err != 0:
            raise ProbeError(f"ApiVersions error {err}")
        ranges = {}
        for _ in range(r.int32()):
            key, lo, hi = r.int16(), r.int16(), r.int16()
            ranges[key] = (lo, hi)
        if METADATA not in ranges:
            raise ProbeError("broker does not advertise Metadata")
        lo, hi = ranges[METADATA]
        version = min(hi, METADATA_MAX_V)
        if version < max(lo, METADATA_MIN_V):
            raise ProbeError(f"no common Metadata version (broker {lo}..{hi})")
        # topics: empty array (= none; we only want brokers), allow_auto_topic_creation=false,
        # and for v8 the two include_*_authorized_operations booleans.
        body = struct.pack(">i?", 0, False) + (b"\x00\x00" if version >= 8 else b"")
        r = _Reader(_call(sock, METADATA, version, 2, body))
        r.int32()  # throttle_time_ms
        brokers = []
        for _ in range(r.int32()):
            node_id, bhost, bport = r.int32(), r.string() or "", r.int32()
            r.string()  # rack
            brokers.append((node_id, bhost, bport))
        cluster_id = r.string()
        controller_id = r.int32()
    if not brokers or controller_id < 0:
        raise ProbeError("broker is up but not yet registered/unfenced")
    return ClusterInfo(brokers, cluster_id, controller_id)


def is_healthy(bootstrap: str, timeout: float = 2.0) -> bool:
    try:
        probe(bootstrap, timeout)
    except (OSError, ProbeError, struct.error, ValueError):
        return False
    return True
