-- shipgate store, SQLite.
--
-- Timestamps are RFC 3339 text of one fixed width (microseconds, `Z`), written by the
-- store, so comparing and ordering the strings compares and orders the times.
-- STRICT tables: a value of the wrong type is an error, not a silent conversion.

-- The release histories, append-only. The primary key on (release_id, seq) is the
-- optimistic concurrency check: two writers appending the same seq cannot both succeed.
CREATE TABLE events (
    release_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    -- The event time to the microsecond, for queries; `at_nanos` keeps the exact
    -- nanosecond of the second so the envelope round-trips unchanged.
    at         TEXT NOT NULL,
    at_nanos   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    request_id TEXT NOT NULL,
    payload    TEXT NOT NULL,
    PRIMARY KEY (release_id, seq)
) STRICT;

-- The listing projection, one row per release, kept in step with its events.
CREATE TABLE releases (
    id                 TEXT NOT NULL PRIMARY KEY,
    service            TEXT NOT NULL,
    version            TEXT NOT NULL,
    git_sha            TEXT NOT NULL,
    playbook           TEXT NOT NULL,
    status             TEXT NOT NULL,
    current_step       INTEGER NOT NULL,
    current_step_id    TEXT NOT NULL,
    current_step_title TEXT NOT NULL,
    hotfix             INTEGER NOT NULL,
    started_by         TEXT NOT NULL,
    started_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    seq                INTEGER NOT NULL
) STRICT;

CREATE INDEX releases_service_status ON releases (service, status);
CREATE INDEX releases_started_at ON releases (started_at, id);

-- Messages for chat platforms, written with the events that caused them.
-- AUTOINCREMENT: an id is never reused, so a worker holding an old id cannot touch a new row.
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key     TEXT NOT NULL UNIQUE,
    release_id          TEXT NOT NULL,
    kind                TEXT NOT NULL,
    payload             TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    next_attempt_at     TEXT NOT NULL,
    delivered_at        TEXT,
    platform_message_id TEXT,
    last_error          TEXT
) STRICT;

-- Only undelivered rows are ever polled; the partial index stays as small as the backlog.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- The first answer to each inbound request: a replay gets it again.
CREATE TABLE responses (
    request_id TEXT NOT NULL PRIMARY KEY,
    release_id TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

-- At most one release holds production per service: the primary key enforces it.
CREATE TABLE production_holds (
    service    TEXT NOT NULL PRIMARY KEY,
    release_id TEXT NOT NULL,
    since      TEXT NOT NULL
) STRICT;

-- What is deployed to production per service, as far as shipgate knows.
CREATE TABLE live_deployments (
    service    TEXT NOT NULL PRIMARY KEY,
    release_id TEXT NOT NULL,
    version    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
