"""Syslog destination: RFC 5424 messages over UDP (one per datagram) or TCP (RFC 6587 octet
counting: ``<length> SP <message>``, which survives newlines inside the message).

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [nhi@32473 k="v" ...] {OCSF JSON}

PRI = facility * 8 + severity: high -> 3 (error), medium -> 4 (warning), low -> 5 (notice); a
close (the cause went away) is 6 (informational). 32473 is the private enterprise number that
RFC 5612 reserves for documentation and examples; the SD-ID just names our parameters.
"""

from __future__ import annotations

import contextlib
import os
import socket
from datetime import UTC, datetime
from typing import Any

import orjson

from alerts.worker import DeliveryError

SYSLOG_SEVERITY = {"high": 3, "medium": 4, "low": 5}
CLOSED = 6
SD_ID = "nhi@32473"
_MAX_UDP = 65_000


def _sd_value(value: str) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _field(value: str, limit: int) -> str:
    # header fields are printable US-ASCII without spaces; '-' is the nil value
    clean = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return clean or "-"


def format_message(
    record: dict[str, Any], facility: int, app_name: str, hostname: str | None = None
) -> bytes:
    activity = str(record.get("activity_name", "")).lower()
    severity_name = str(record.get("severity", "")).lower()
    severity = CLOSED if activity == "close" else SYSLOG_SEVERITY.get(severity_name, 5)
    pri = facility * 8 + severity
    millis = record.get("time")
    when = datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int) else datetime.now(UTC)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    info = record.get("finding_info", {})
    resources = record.get("resources") or [{}]
    params = {
        "finding_id": str(info.get("uid", "")),
        "detector": str(info.get("analytic", {}).get("uid", "")),
        "nhi": str(resources[0].get("uid", "")),
        "severity": severity_name,
        "status": str(record.get("status", "")),
    }
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    header = " ".join(
        (
            f"<{pri}>1",
            stamp,
            _field(hostname or socket.gethostname(), 255),
            _field(app_name, 48),
            _field(str(os.getpid()), 128),
            _field(f"finding-{activity}", 32),
        )
    )
    return f"{header} {sd} ".encode() + orjson.dumps(record)


class SyslogTransport:
    def __init__(
        self, host: str, port: int, protocol: str, facility: int, app_name: str, timeout_s: float = 5.0
    ) -> None:
        self.address = (host, port)
        self.protocol = protocol
        self.facility = facility
        self.app_name = app_name
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None

    def send(self, record: dict[str, Any]) -> None:
        message = format_message(record, self.facility, self.app_name)
        try:
            if self.protocol == "udp":
                if len(message) > _MAX_UDP:
                    raise DeliveryError(
                        f"{len(message)} bytes don't fit a UDP datagram; use tcp", retryable=False
                    )
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.sendto(message, self.address)
                return
            if self._sock is None:
                self._sock = socket.create_connection(self.address, timeout=self.timeout_s)
            self._sock.sendall(str(len(message)).encode() + b" " + message)
        except OSError as exc:
            self.close()  # reconnect on the next try
            raise DeliveryError(
                f"syslog {self.protocol}://{self.address[0]}:{self.address[1]}: {exc}"
            ) from exc

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            with contextlib.suppress(OSError):
                sock.close()
