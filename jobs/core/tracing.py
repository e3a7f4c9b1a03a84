"""OpenTelemetry traces, opt-in: an enqueue span in the caller's trace, a span per attempt under it.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (OTLP over HTTP) or
``OTEL_TRACES_EXPORTER`` is ``otlp`` or ``console``; off, nothing here runs
beyond one boolean test, so the hot path pays nothing. On, ``build_job``
(jobs/engine/build.py) opens ``job.enqueue`` inside whatever span is current
(the web request's, jobsite/tracing.py) and stores that span's W3C
``traceparent`` on the job; each attempt (jobs/execution/runner.py) opens
``job.run`` as its child, so every attempt of a job, on whichever worker, hangs
under the enqueue. A handler's own spans (``opentelemetry.trace.get_tracer``)
nest inside its attempt's.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("jobs")
_enabled = False


def enabled() -> bool:
    return _enabled


def wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The exporter the environment asks for: "otlp", "console" or "" (tracing off)."""
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter in ("console", "otlp"):
        return exporter
    if not exporter and environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return ""


def configure(service: str) -> None:
    """Install the SDK's tracer provider once per process, if the environment asks for traces."""
    global _enabled
    exporter = wanted()
    if not exporter or _enabled:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}))
    if exporter == "console":  # one JSON object per span on stdout, as each ends (development, tests)
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_OTLP_* configure it
    trace.set_tracer_provider(provider)
    _enabled = True


@contextmanager
def enqueue_span(job_type: str, queue: str) -> Iterator[str]:
    """``job.enqueue`` in the current trace; yields its traceparent for the job row ("" when off)."""
    if not _enabled:
        yield ""
        return
    with _tracer.start_as_current_span("job.enqueue", kind=SpanKind.PRODUCER,
                                       attributes={"job.type": job_type, "job.queue": queue}) as span:
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        yield carrier.get("traceparent", "")
        span.set_attribute("job.traceparent", carrier.get("traceparent", ""))


@contextmanager
def run_span(*, job_id: str, job_type: str, queue: str, attempt: int, traceparent: str) -> Iterator[Span | None]:
    """``job.run`` for one attempt, the child of the job's enqueue span (a root span when it has none)."""
    if not _enabled:
        yield None
        return
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    attributes: dict[str, Any] = {"job.id": job_id, "job.type": job_type, "job.queue": queue, "job.attempt": attempt}
    with _tracer.start_as_current_span(f"job.run {job_type}", context=parent, kind=SpanKind.CONSUMER,
                                       attributes=attributes, record_exception=False,
                                       set_status_on_exception=False) as span:
        yield span


def run_ended(span: Span | None, *, outcome: str, error: str = "") -> None:
    if span is None:
        return
    span.set_attribute("job.outcome", outcome)
    if error:
        span.set_status(Status(StatusCode.ERROR, error[:500]))


@contextmanager
def server_span(method: str, path: str, headers: Any) -> Iterator[Span | None]:
    """The web request's span, continuing the caller's trace (its ``traceparent`` header)."""
    if not _enabled:
        yield None
        return
    parent = _propagator.extract({"traceparent": headers.get("traceparent", "")}) if headers.get("traceparent") else None
    with _tracer.start_as_current_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER,
                                       attributes={"http.request.method": method, "url.path": path}) as span:
        yield span
