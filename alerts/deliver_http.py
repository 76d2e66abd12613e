"""One HTTP request per alert, with the error handling every HTTP destination shares.

5xx, 408, 425, 429 and network errors are retried (the worker backs off exponentially, and waits
at least as long as a ``Retry-After`` header asks, which Slack, PagerDuty and Opsgenie send with
429); other 4xx mean the request itself is wrong and go to the dead letters at once. The error
names the service's own explanation (the first 200 bytes of its response body).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerts.context import product_version
from alerts.worker import DeliveryError

RETRYABLE_4XX = {408, 425, 429}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _redact(url: str) -> str:
    """The URL without its path and query: for Slack and Teams the URL itself is the secret."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..."


def send(request: HttpRequest, timeout_s: float, secret_url: bool = False) -> bytes:
    """Send ``request``; the response body, or DeliveryError (retryable or not)."""
    where = f"{request.method} {_redact(request.url) if secret_url else request.url}"
    req = urllib.request.Request(
        request.url,
        data=request.body,
        method=request.method,
        headers={"User-Agent": f"nhi-evidence/{product_version()}", **request.headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        retryable = exc.code >= 500 or exc.code in RETRYABLE_4XX
        said = exc.read()[:200].decode(errors="replace").strip() if exc.fp is not None else ""
        raise DeliveryError(
            f"{where}: HTTP {exc.code} {exc.reason}" + (f": {said}" if said else ""),
            retryable=retryable,
            retry_after=_retry_after(exc),
        ) from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{where}: {reason}") from exc


Render = Callable[[dict[str, Any]], HttpRequest]


class HttpTransport:
    """An HTTP destination: ``render`` turns the OCSF record into the service's request."""

    def __init__(self, render: Render, timeout_s: float = 10.0, secret_url: bool = False) -> None:
        self.render = render
        self.timeout_s = timeout_s
        self.secret_url = secret_url

    def send(self, record: dict[str, Any]) -> None:
        send(self.render(record), self.timeout_s, self.secret_url)

    def close(self) -> None:
        pass
