"""The Postgres read model: its schema, shared by the projector (writes) and the API (reads)."""
