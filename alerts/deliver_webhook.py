"""Webhook destination: the OCSF record (or a user template's rendering of it) as a POST, signed
with HMAC-SHA256.

Headers: ``X-NHI-Timestamp`` (unix seconds) and ``X-NHI-Signature: sha256=<hex>`` over
``timestamp + "." + body``, so a receiver can reject both forged and replayed requests;
``X-NHI-Alert-Id`` is the change id, for receivers that deduplicate retried deliveries. The body
that is signed is the one sent, template or not. Errors and retries: alerts/deliver_http.py.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import orjson

from alerts.deliver_http import HttpRequest, HttpTransport
from alerts.templates import UserTemplate

SIGNATURE_HEADER = "X-NHI-Signature"
TIMESTAMP_HEADER = "X-NHI-Timestamp"


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(key: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (and what the tests' server does)."""
    return hmac.compare_digest(sign(key, timestamp, body), signature)


class WebhookTransport(HttpTransport):
    def __init__(
        self,
        url: str,
        key: bytes,
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
        template: UserTemplate | None = None,
    ) -> None:
        super().__init__(self._request, timeout_s)
        self.url = url
        self.key = key
        self.headers = dict(headers or {})
        self.template = template

    def _request(self, record: dict[str, Any]) -> HttpRequest:
        body = self.template.render(record) if self.template else orjson.dumps(record)
        content_type = self.template.content_type if self.template else "application/json"
        stamp = str(int(time.time()))
        return HttpRequest(
            self.url,
            body,
            {
                **self.headers,
                "Content-Type": content_type,
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(self.key, stamp, body),
                "X-NHI-Alert-Id": str(record.get("metadata", {}).get("uid", "")),
            },
        )
