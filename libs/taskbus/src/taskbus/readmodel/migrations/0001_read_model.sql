-- The read model: current state per task, every task's history, and the projector's
-- position in the log. Everything here can be dropped and rebuilt from the log.
CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    task_type        text NOT NULL,
    name             text,
    status           text NOT NULL,
    progress         real NOT NULL DEFAULT 0,
    progress_message text,
    parameters       jsonb NOT NULL,
    result           jsonb,
    error            text,
    attempts         integer NOT NULL,
    max_attempts     integer NOT NULL,
    timeout_s        double precision,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL,
    created_seq      bigint NOT NULL UNIQUE,
    last_seq         bigint NOT NULL
);

-- Keyset pagination is newest first by submit sequence, optionally within one filter.
CREATE INDEX tasks_status_created ON tasks (status, created_seq DESC);
CREATE INDEX tasks_type_created ON tasks (task_type, created_seq DESC);
CREATE INDEX tasks_type_status_created ON tasks (task_type, status, created_seq DESC);
-- The change feed behind SSE reads rows changed after a sequence.
CREATE INDEX tasks_last_seq ON tasks (last_seq);
CREATE INDEX tasks_completed_at ON tasks (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX tasks_name_trgm ON tasks USING gin (name gin_trgm_ops);

CREATE TABLE task_events (
    seq     bigint PRIMARY KEY,
    task_id uuid NOT NULL,
    type    text NOT NULL,
    time    timestamptz NOT NULL,
    data    jsonb NOT NULL
);
CREATE INDEX task_events_task ON task_events (task_id, seq);

CREATE TABLE projection_position (
    projection text PRIMARY KEY,
    seq        bigint NOT NULL
);
