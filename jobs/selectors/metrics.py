"""What ``GET /metrics`` says: the counted series (jobs.events.metrics) and gauges read at scrape time.

Counters and histograms are the sums of MetricCounter rows, so every web process
answers the same numbers whichever processes did the counting. Gauges come from
what the dashboard reads: the trigger-kept counts (exact, no row counted), the
oldest pending job per queue, RQ's worker registry and the scheduler leader's
heartbeat. One scrape costs a few small queries and one Redis round trip.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from jobs.core.metrics import BUCKETS, bucket_label
from jobs.models import MetricCounter, SchedulerHeartbeat
from jobs.selectors.counts import job_counts
from jobs.selectors.queues import oldest_pending, worker_list, workers_per_queue

COUNTERS = {
    "jobs_enqueued_total": ("Jobs created", ("queue", "type")),
    "jobs_processed_total": ("Runs (attempts) that ended, by outcome", ("queue", "type", "outcome")),
    "jobs_failed_total": ("Jobs that failed for good (into the dead-letter queue)", ("queue", "type")),
}
HISTOGRAMS = {
    "job_duration_seconds": "How long a run took, start to end",
    "job_wait_seconds": "How long a job waited from when it was due (run_at, else created) to its run's start",
}
GAUGES = {
    "queue_jobs": ("Jobs per queue and state (exact)", ("queue", "state")),
    "worker_slots_busy": ("Runs in progress per queue (its active jobs)", ("queue",)),
    "queue_oldest_pending_seconds": ("Age of the oldest pending job (0: none)", ("queue",)),
    "workers": ("Live workers listening on the queue (RQ's registry)", ("queue",)),
    "scheduler_leader_lag_seconds": ("Seconds since the scheduler leader's last beat", ()),
}


def _gauge(name: str) -> GaugeMetricFamily:
    documentation, labels = GAUGES[name]
    return GaugeMetricFamily(name, documentation, labels=labels)


class JobMetrics(Collector):
    def collect(self) -> Iterator[Metric]:
        rows: defaultdict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for name, labels, value in MetricCounter.objects.values_list("name", "labels", "value"):
            rows[name].append((json.loads(labels), value))
        for name, (documentation, label_names) in COUNTERS.items():
            family = CounterMetricFamily(name.removesuffix("_total"), documentation, labels=label_names)
            for labels, value in sorted(rows[name], key=lambda row: sorted(row[0].items())):
                family.add_metric([labels.get(k, "") for k in label_names], value)
            yield family
        for name, documentation in HISTOGRAMS.items():
            yield _histogram(name, documentation, rows)
        yield from _gauges()


def _histogram(name: str, documentation: str,
               rows: defaultdict[str, list[tuple[dict[str, str], float]]]) -> HistogramMetricFamily:
    """Stored buckets hold the samples that fell in each; Prometheus wants them cumulative."""
    family = HistogramMetricFamily(name, documentation, labels=("queue", "type"))
    buckets: defaultdict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for labels, value in rows[f"{name}_bucket"]:
        buckets[(labels["queue"], labels["type"])][labels["le"]] = value
    sums = {(labels["queue"], labels["type"]): value for labels, value in rows[f"{name}_sum"]}
    for series in sorted(buckets):
        running = 0.0
        cumulative = []
        for upper in [*BUCKETS, float("inf")]:
            running += buckets[series].get(bucket_label(upper), 0.0)
            cumulative.append((bucket_label(upper), running))
        family.add_metric(list(series), cumulative, sums.get(series, 0.0))
    return family


def _gauges() -> Iterator[Metric]:
    counts = job_counts()
    queue_jobs, busy = _gauge("queue_jobs"), _gauge("worker_slots_busy")
    for queue, states in sorted(counts.items()):
        for state, n in states.items():
            queue_jobs.add_metric([queue, state], n)
        busy.add_metric([queue], states.get("active", 0))
    yield queue_jobs
    yield busy

    now = timezone.now()
    oldest = _gauge("queue_oldest_pending_seconds")
    for queue, created in sorted(oldest_pending(sorted(counts)).items()):
        oldest.add_metric([queue], max((now - created).total_seconds(), 0.0) if created else 0.0)
    yield oldest

    workers = _gauge("workers")
    listening = workers_per_queue(worker_list())
    for queue in sorted(counts):
        workers.add_metric([queue], listening.get(queue, 0))
    yield workers

    beat = SchedulerHeartbeat.objects.filter(name="leader").first()
    if beat is not None:
        lag = _gauge("scheduler_leader_lag_seconds")
        lag.add_metric([], max((now - beat.beat_at).total_seconds(), 0.0))
        yield lag


def metrics_registry() -> CollectorRegistry:
    """A registry of this project's metrics alone (not the exposing process's own CPU and memory:
    whichever web process answers, the numbers must be the same)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobMetrics())
    return registry
