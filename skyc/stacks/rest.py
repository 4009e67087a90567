"""A small JSON-over-HTTP client for the clouds skyc drives through Pulumi dynamic providers.

Standard library only: it runs inside the dynamic-provider plugin process. Rate limits (HTTP 429)
are retried with exponential backoff a bounded number of times; every other error response
becomes an `ApiError` whose `kind` the provider decides (capacity, auth, not found, ...), so
the engine can report it and launch can fail over to the next placement on capacity errors.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from skyc.stacks.base import CREDENTIALS_REJECTED

CAPACITY = "capacity"  # no capacity for this type/region right now: try another placement
AUTH = "auth"  # the API key was refused: no placement on this cloud will work
NOT_FOUND = "not-found"
RATE_LIMIT = "rate-limit"
OTHER = "error"



class ApiError(Exception):
    """An error response, classified. `str()` is the line the user sees."""

    def __init__(self, cloud: str, status: int, kind: str, code: str, message: str, hint: str = ""):
        self.cloud, self.status, self.kind, self.code, self.message, self.hint = cloud, status, kind, code, message, hint
        text = f"{cloud} API: {message}" + (f" ({code})" if code else "") + (f"; {hint}" if hint else "")
        if kind == AUTH:
            text = f"{cloud} {CREDENTIALS_REJECTED}: {message}" + (f"; {hint}" if hint else "")
        if kind == CAPACITY:
            text = f"{cloud}: no capacity: {message}" + (f" ({code})" if code else "")
        super().__init__(text)


def retry_settings() -> tuple[int, float]:
    """(attempts, first backoff in seconds) for rate-limited requests."""
    attempts = int(os.environ.get("SKYC_API_RETRIES") or 6)
    backoff = float(os.environ.get("SKYC_API_BACKOFF_S") or 2.0)
    return max(1, attempts), max(0.0, backoff)


def poll_interval(default: float = 5.0) -> float:
    return float(os.environ.get("SKYC_API_POLL_S") or default)


class Client:
    """`request(method, path, body)` -> parsed JSON (None for an empty body).

    `classify(status, payload) -> (kind, code, message, hint)` turns an error response into
    the provider's terms; `payload` is the decoded JSON body, or the raw text.
    """

    def __init__(self, cloud: str, base_url: str, headers: dict[str, str],
                 classify: Callable[[int, Any], tuple[str, str, str, str]], timeout: float = 30.0):
        self.cloud = cloud
        self.base_url = base_url.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": "skyc", **headers}
        self.classify = classify
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        attempts, backoff = retry_settings()
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(attempts):
            req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=self.headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                return json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as e:
                payload = _decode(e.read())
                status = e.code
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise ApiError(self.cloud, 0, OTHER, "", f"cannot reach {self.base_url}: {reason}") from None
            kind, code, message, hint = self.classify(status, payload)
            if kind == RATE_LIMIT and attempt + 1 < attempts:
                time.sleep(backoff * (2 ** attempt))
                continue
            if kind == RATE_LIMIT:
                message = f"{message} (still rate limited after {attempts} attempts)"
            raise ApiError(self.cloud, status, kind, code, message, hint)
        raise AssertionError("unreachable")


def _decode(raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float) -> Any:
    """Call `check` until it returns a truthy value; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(interval)


def read_key_value_file(path: str, key: str) -> str | None:
    """`key = value` (or `key=value`) from a small credentials file; None when absent."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            for line in f:
                name, sep, value = line.partition("=")
                if sep and name.strip() == key and value.strip():
                    return value.strip().strip("'\"")
    except OSError:
        return None
    return None
