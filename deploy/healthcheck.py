"""Container health check shared by both long-running processes of the image.

Healthy when the review API answers ``GET /health`` with 200 (its database answers too), or, where no API listens (a worker), when
the worker's Prometheus endpoint answers ``GET /metrics`` with 200. Ports come from the same settings the
processes read (API_PORT, METRICS_PORT). Exit status 0 = healthy, 1 = unhealthy (Docker's HEALTHCHECK).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from distillguard.api.settings import ApiSettings
from distillguard.streams.settings import StreamSettings

TIMEOUT_S = 3.0


def status_of(url: str) -> int | None:
    """HTTP status of ``GET url``; None when nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return None
        raise


def main() -> int:
    """Probe the API, then the worker's metrics endpoint; print what answered."""
    urls = (
        f"http://127.0.0.1:{ApiSettings().api_port}/health",
        f"http://127.0.0.1:{StreamSettings().metrics_port}/metrics",
    )
    for url in urls:
        try:
            status = status_of(url)
        except OSError as exc:  # timeouts, resets, unresolvable names (URLError is an OSError)
            print(f"unhealthy: {url}: {exc}")
            return 1
        if status is not None:
            print(f"{'healthy' if status == 200 else 'unhealthy'}: {url} answered {status}")
            return 0 if status == 200 else 1
    print(f"unhealthy: nothing listens on {' or '.join(urls)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
