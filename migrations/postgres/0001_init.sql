-- shipgate store, PostgreSQL. Same tables as the SQLite schema; several shipgate
-- processes may share one database, and their correctness rests on the unique
-- constraints below, whose names the store maps to conflicts.

-- The release histories, append-only. The primary key on (release_id, seq) is the
-- optimistic concurrency check: two writers appending the same seq cannot both succeed.
CREATE TABLE events (
    release_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    -- TIMESTAMPTZ keeps microseconds; `at_nanos` keeps the exact nanosecond of the
    -- second so the envelope round-trips unchanged.
    at         TIMESTAMPTZ NOT NULL,
    at_nanos   BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      JSONB NOT NULL,
    request_id TEXT NOT NULL,
    payload    JSONB NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (release_id, seq)
);

-- The listing projection, one row per release, kept in step with its events.
CREATE TABLE releases (
    id                 TEXT NOT NULL,
    service            TEXT NOT NULL,
    version            TEXT NOT NULL,
    git_sha            TEXT NOT NULL,
    playbook           TEXT NOT NULL,
    status             TEXT NOT NULL,
    current_step       BIGINT NOT NULL,
    current_step_id    TEXT NOT NULL,
    current_step_title TEXT NOT NULL,
    hotfix             BOOLEAN NOT NULL,
    started_by         TEXT NOT NULL,
    started_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    seq                BIGINT NOT NULL,
    CONSTRAINT releases_pkey PRIMARY KEY (id)
);

CREATE INDEX releases_service_status ON releases (service, status);
CREATE INDEX releases_started_at ON releases (started_at, id);

-- Messages for chat platforms, written with the events that caused them.
CREATE TABLE outbox (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY,
    idempotency_key     TEXT NOT NULL,
    release_id          TEXT NOT NULL,
    kind                TEXT NOT NULL,
    payload             JSONB NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL,
    next_attempt_at     TIMESTAMPTZ NOT NULL,
    delivered_at        TIMESTAMPTZ,
    platform_message_id TEXT,
    last_error          TEXT,
    CONSTRAINT outbox_pkey PRIMARY KEY (id),
    CONSTRAINT outbox_idempotency_key_key UNIQUE (idempotency_key)
);

-- Only undelivered rows are ever polled; the partial index stays as small as the backlog.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- The first answer to each inbound request: a replay gets it again.
CREATE TABLE responses (
    request_id TEXT NOT NULL,
    release_id TEXT NOT NULL,
    status     BIGINT NOT NULL,
    body       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT responses_pkey PRIMARY KEY (request_id)
);

-- At most one release holds production per service: the primary key enforces it.
CREATE TABLE production_holds (
    service    TEXT NOT NULL,
    release_id TEXT NOT NULL,
    since      TIMESTAMPTZ NOT NULL,
    CONSTRAINT production_holds_pkey PRIMARY KEY (service)
);

-- What is deployed to production per service, as far as shipgate knows.
CREATE TABLE live_deployments (
    service    TEXT NOT NULL,
    release_id TEXT NOT NULL,
    version    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT live_deployments_pkey PRIMARY KEY (service)
);
