-- The audit trail (GET /api/audit) is the history's command events, those that record who
-- asked for them (docs/design.md, "Threat model"): newest first, all of them or one actor's.
CREATE INDEX task_events_commands ON task_events (seq DESC)
    WHERE data ->> 'actor' IS NOT NULL;
CREATE INDEX task_events_commands_by_actor ON task_events ((data ->> 'actor'), seq DESC)
    WHERE data ->> 'actor' IS NOT NULL;
