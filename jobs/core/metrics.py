"""How metric series are keyed, shared by the counting (jobs.events.metrics) and the reading
(jobs.selectors.metrics): histogram buckets and the canonical form of a series' labels."""
from __future__ import annotations

import json
from functools import lru_cache

#: Seconds: from a few milliseconds (a no-op job's run) to an hour (the longest time limit a queue allows).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def labels_key(**labels: str) -> str:
    """A series' labels as MetricCounter.labels stores them: JSON with sorted keys, no spaces."""
    return _key(tuple(sorted(labels.items())))


@lru_cache(maxsize=4096)  # counted per job on the worker's path: a handful of label sets, built once each
def _key(items: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(items), separators=(",", ":"))


def bucket_label(upper: float) -> str:
    return "+Inf" if upper == float("inf") else repr(upper)
