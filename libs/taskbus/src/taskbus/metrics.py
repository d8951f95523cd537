"""The Prometheus metrics operators need, one registry per process (prometheus_client's).

Names follow Prometheus conventions: ``taskbus_<what>_<unit>``, counters end in ``_total``.
"""

from prometheus_client import Counter, Gauge, Histogram

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

TASKS = Counter(
    "taskbus_tasks_total",
    "Attempts finished by workers, by outcome (succeeded, failed, retrying, cancelled).",
    ["task_type", "outcome"],
)
TASK_DURATION = Histogram(
    "taskbus_task_duration_seconds",
    "Time from an attempt's start to its end on the worker.",
    ["task_type"],
    buckets=_DURATION_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "taskbus_queue_wait_seconds",
    "Time from submission (or retry) to the attempt's start.",
    ["task_type"],
    buckets=_DURATION_BUCKETS,
)
TASKS_IN_FLIGHT = Gauge(
    "taskbus_tasks_in_flight", "Attempts running on this worker now.", ["task_type"]
)
PROJECTOR_POSITION = Gauge(
    "taskbus_projector_position", "Log sequence of the last event folded into the read model."
)
PROJECTOR_LAG = Gauge(
    "taskbus_projector_lag_events", "Events in the log not yet folded into the read model."
)
EVENTS_FOLDED = Counter(
    "taskbus_projector_events_folded_total", "Events folded into the read model."
)
FOLD_BATCH_SECONDS = Histogram(
    "taskbus_projector_batch_seconds",
    "Time to fold and commit one batch of events.",
    buckets=_DURATION_BUCKETS,
)
COMMANDS = Counter(
    "taskbus_api_commands_total", "Commands the API turned into events.", ["command"]
)
SSE_CLIENTS = Gauge("taskbus_sse_clients", "Server-Sent Events streams open on this API process.")
