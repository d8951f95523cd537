-- Events the projector could not store, set aside so the log behind them keeps flowing
-- (docs/design.md, "The projector"). The log still holds them; these rows say why they are
-- missing from the read model.
CREATE TABLE quarantined_events (
    seq            bigint PRIMARY KEY,
    subject        text NOT NULL,
    event_type     text,
    task_id        uuid,
    error          text NOT NULL,
    -- A bounded prefix of the message as the log holds it, and its full size.
    raw            bytea NOT NULL,
    raw_size       integer NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantined_events_task ON quarantined_events (task_id, seq);

-- Who may write this read model: one row per projection, taken over only once expired. Each
-- takeover bumps the epoch, and every batch commits only while its epoch is still the row's,
-- so a leader that paused or lost its way cannot write after another took over.
CREATE TABLE projector_lease (
    projection  text PRIMARY KEY,
    holder      text NOT NULL,
    epoch       bigint NOT NULL,
    expires_at  timestamptz NOT NULL,
    -- When the read model last moved forward or was found caught up with the log.
    progress_at timestamptz NOT NULL,
    -- Why the leader refuses to project (its position is past the log's end), or NULL.
    halted      text
);
