"""Webhook destination: the OCSF record as a JSON POST, signed with HMAC-SHA256.

Headers: ``X-NHI-Timestamp`` (unix seconds) and ``X-NHI-Signature: sha256=<hex>`` over
``timestamp + "." + body``, so a receiver can reject both forged and replayed requests;
``X-NHI-Alert-Id`` is the change id, for receivers that deduplicate retried deliveries.
5xx, 408, 429 and network errors are retried; other 4xx mean the request itself is wrong and are
dead-lettered at once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from alerts.context import product_version
from alerts.worker import DeliveryError

SIGNATURE_HEADER = "X-NHI-Signature"
TIMESTAMP_HEADER = "X-NHI-Timestamp"
_RETRYABLE_4XX = {408, 425, 429}


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(key: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (and what the tests' server does)."""
    return hmac.compare_digest(sign(key, timestamp, body), signature)


class WebhookTransport:
    def __init__(
        self, url: str, key: bytes, timeout_s: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.key = key
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})

    def send(self, record: dict[str, Any]) -> None:
        body = orjson.dumps(record)
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                **self.headers,
                "Content-Type": "application/json",
                "User-Agent": f"nhi-evidence/{product_version()}",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(self.key, stamp, body),
                "X-NHI-Alert-Id": str(record.get("metadata", {}).get("uid", "")),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            retryable = exc.code >= 500 or exc.code in _RETRYABLE_4XX
            raise DeliveryError(
                f"POST {self.url}: HTTP {exc.code} {exc.reason}", retryable=retryable
            ) from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"POST {self.url}: {reason}") from exc

    def close(self) -> None:
        pass
