"""The coordination tables (PostgreSQL only; SQLite runs in one process and needs none).

* `run_leases`: one row per active run = the thread's lock (`thread_id` is unique) and the
  run's lease. `replica` is the replica executing the run, renewing `expires_at`; `''` means
  *parked* (the run waits for tool outputs; nobody executes it; `expires_at` is the run's own
  expiry). A row whose `expires_at` passed is taken over by the first replica that sweeps.
* `run_events`: every stream event of a run as its ready SSE frame, numbered from 1 per run;
  `last` marks the end of a stream (run finished, or waiting for tool outputs). NOTIFY on
  `spool_events` carries `run_id:seq`, never the data. Deleted `event_retention_s` after a
  run's newest event.
* `run_commands`: commands for the replica executing a run (`cancel`), NOTIFY on
  `spool_commands` with that replica's id; the owner also polls them at every renewal.

Created idempotently under an advisory lock when a replica starts (replicas starting together
do not race), so they do not depend on the storage schema's version.
"""

from __future__ import annotations

ADVISORY_LOCK = 0x5F00_1C00  # pg_advisory_xact_lock key of the coordination DDL

DDL = (
    """
    CREATE TABLE IF NOT EXISTS run_leases (
        run_id text PRIMARY KEY,
        thread_id text NOT NULL UNIQUE,
        replica text NOT NULL,
        expires_at timestamptz NOT NULL)
    """,
    "CREATE INDEX IF NOT EXISTS run_leases_replica ON run_leases (replica)",
    "CREATE INDEX IF NOT EXISTS run_leases_expires ON run_leases (expires_at)",
    """
    CREATE TABLE IF NOT EXISTS run_events (
        run_id text NOT NULL,
        seq integer NOT NULL,
        frame bytea NOT NULL,
        last boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, seq))
    """,
    "CREATE INDEX IF NOT EXISTS run_events_created ON run_events (created_at)",
    """
    CREATE TABLE IF NOT EXISTS run_commands (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id text NOT NULL,
        replica text NOT NULL,
        command text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())
    """,
    "CREATE INDEX IF NOT EXISTS run_commands_replica ON run_commands (replica)",
)

EVENTS_CHANNEL = "spool_events"
COMMANDS_CHANNEL = "spool_commands"
