"""Prometheus metrics in the text exposition format (version 0.0.4).

Written here rather than with ``prometheus_client`` because four metric families take a few dozen
lines and the server keeps one dependency fewer.

Example:
    >>> m = Metrics()
    >>> m.observe_request("/healthz", "GET", 200, 0.001)
    >>> 'kforge_requests_total{endpoint="/healthz",method="GET",status="200"} 1' in m.render()
    True
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    """Cumulative buckets, sum and count, as Prometheus histograms are."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, total = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum!r}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Request counts by endpoint/method/status, request latency and batch sizes per model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batches: dict[str, Histogram] = {}
        self.models: dict[str, str] = {}

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        with self._lock:
            self.requests[(endpoint, method, str(status))] += 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, model: str, size: int) -> None:
        """Record one engine call of ``size`` examples."""
        with self._lock:
            self.batches.setdefault(model, Histogram(BATCH_BUCKETS)).observe(size)

    def render(self) -> str:
        """All metrics as Prometheus text."""
        lines = ["# HELP kforge_requests_total HTTP requests answered, by endpoint, method and status.",
                 "# TYPE kforge_requests_total counter"]
        with self._lock:
            for (endpoint, method, status), count in sorted(self.requests.items()):
                lines.append(f'kforge_requests_total{{endpoint="{_escape(endpoint)}",method="{method}",'
                             f'status="{status}"}} {count}')
            lines += ["# HELP kforge_request_duration_seconds Time to answer a request, by endpoint.",
                      "# TYPE kforge_request_duration_seconds histogram"]
            for endpoint, hist in sorted(self.latency.items()):
                lines += hist.lines("kforge_request_duration_seconds", f'endpoint="{_escape(endpoint)}"')
            lines += ["# HELP kforge_batch_size Examples per engine call (micro-batching), by model.",
                      "# TYPE kforge_batch_size histogram"]
            for model, hist in sorted(self.batches.items()):
                lines += hist.lines("kforge_batch_size", f'model="{_escape(model)}"')
            lines += ["# HELP kforge_model_info Served models and their inference engine.",
                      "# TYPE kforge_model_info gauge"]
            for model, engine in sorted(self.models.items()):
                lines.append(f'kforge_model_info{{model="{_escape(model)}",engine="{engine}"}} 1')
        return "\n".join(lines) + "\n"
