"""The Postgres read model: its schema, the task state and the fold that computes it.

The projector writes it; the API reads it, and folds a new submission the same way to
answer before the projector has caught up.
"""
