"""What the read model tells about its projector: how far it got, who leads, whether it moves,
and how many events it set aside. The projector writes these rows; the API's health reads them.
"""

from dataclasses import dataclass

from taskbus.readmodel.database import Connection

_STATUS = """
SELECT position.seq AS position,
       (SELECT count(*) FROM quarantined_events) AS quarantined,
       lease.holder,
       lease.expires_at <= now() AS expired,
       extract(epoch FROM now() - lease.progress_at)::float8 AS idle_s,
       lease.halted
FROM (SELECT $1::text AS projection) AS wanted
LEFT JOIN projection_position AS position USING (projection)
LEFT JOIN projector_lease AS lease USING (projection)
"""


@dataclass(frozen=True, slots=True)
class ProjectorStatus:
    position: int
    """The log sequence the read model has folded up to (0: nothing yet)."""
    quarantined: int
    """Events set aside: undecodable, or refused by Postgres (``quarantined_events``)."""
    leader: str | None
    """Who holds the lease, or None while it is expired (or no projector ever led)."""
    idle_s: float | None
    """Seconds since the read model last moved or was found caught up; None: never."""
    halted: str | None
    """Why the leader refuses to project, or None."""


async def projector_status(conn: Connection, projection: str = "tasks") -> ProjectorStatus:
    row = await conn.fetchrow(_STATUS, projection)
    assert row is not None  # the query always answers one row
    return ProjectorStatus(
        position=int(row["position"] or 0),
        quarantined=int(row["quarantined"]),
        leader=None if row["expired"] in (None, True) else row["holder"],
        idle_s=row["idle_s"],
        halted=row["halted"],
    )
