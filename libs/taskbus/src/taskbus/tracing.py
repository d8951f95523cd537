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
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

log = structlog.get_logger(__name__)

TRACE_FIELDS = frozenset(propagate.get_global_textmap().fields)
"""The headers the trace context travels in (``traceparent``, ``tracestate``, ...)."""
# A proxy until configure_tracing sets the provider, then that provider's tracer.
_tracer = trace.get_tracer("taskbus")
_ids = RandomIdGenerator()
_exporting = False


def configure_tracing(service: str) -> None:
    global _exporting
    provider = TracerProvider(resource=Resource.create({"service.name": f"taskbus-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otlp extra is not installed")
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _exporting = True
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


def parent_context(headers: Mapping[str, str] | None) -> Context:
    """The trace context ``headers`` carry; an empty one when they carry none."""
    carrier = {name: value for name, value in (headers or {}).items() if name in TRACE_FIELDS}
    return propagate.extract(carrier) if carrier else Context()


@contextmanager
def traced(
    name: str, parent: Mapping[str, str] | None = None, **attributes: str
) -> Iterator[SpanContext]:
    """A span continuing ``parent``'s trace (headers), with its trace id bound to log lines."""
    with span_in(name, parent_context(parent), **attributes) as span_context:
        yield span_context


@contextmanager
def span_in(name: str, parent: Context, **attributes: str) -> Iterator[SpanContext]:
    """A span under ``parent``, current while the block runs, its trace id on log lines.

    Recorded only when spans are exported. Otherwise nothing would ever read a recorded
    span: only its ids are needed, for the events' trace headers and the log lines, and a
    span the SDK records and drops cost a tenth of a submit's CPU and a twelfth of a small
    task's in the worker. The ids are made as the SDK makes them (its default sampling).
    """
    if _exporting:
        with _tracer.start_as_current_span(name, context=parent, attributes=attributes) as span:
            span_context = span.get_span_context()
            with _trace_id_logged(span_context):
                yield span_context
        return
    span_context = _child_of(trace.get_current_span(parent).get_span_context())
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(span_context), parent))
    try:
        with _trace_id_logged(span_context):
            yield span_context
    finally:
        context.detach(token)


def _child_of(parent: SpanContext) -> SpanContext:
    if parent.is_valid:
        trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
    else:
        trace_id, flags, state = _ids.generate_trace_id(), TraceFlags(TraceFlags.SAMPLED), None
    return SpanContext(
        trace_id, _ids.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=state
    )


@contextmanager
def _trace_id_logged(span_context: SpanContext) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(trace_id=format(span_context.trace_id, "032x")):
        yield
