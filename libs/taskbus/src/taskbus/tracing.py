"""OpenTelemetry trace context across services: carried in NATS message headers.

The API starts (or continues, from the client's ``traceparent``) a trace per command; every
event appended inside a span carries the W3C ``traceparent`` header; a worker continues the
trace of the work message it runs, so one trace follows a task from the API through the
worker to the projector. Spans are exported only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
(and the ``otlp`` extra is installed); the trace id appears on log lines either way.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import structlog
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = structlog.get_logger(__name__)


def configure_tracing(service: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"taskbus-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otlp extra is not installed")
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def trace_headers() -> dict[str, str]:
    """The current trace context as message headers (empty outside any span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def trace_id_of(headers: Mapping[str, str] | None) -> str | None:
    """The trace id a message's headers carry, as 32 hex digits."""
    span_context = trace.get_current_span(propagate.extract(dict(headers or {}))).get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


@contextmanager
def traced(
    name: str, parent: Mapping[str, str] | None = None, **attributes: str
) -> Iterator[trace.Span]:
    """A span continuing ``parent``'s trace (headers), with its trace id bound to log lines."""
    token = context.attach(propagate.extract(dict(parent or {})))
    try:
        tracer = trace.get_tracer("taskbus")
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            with structlog.contextvars.bound_contextvars(trace_id=trace_id):
                yield span
    finally:
        context.detach(token)
