-- Locks on a service (or one environment of it): who, why, until when, and how each
-- ended. A lock's end is recorded once — by an unlock or by whichever instance's timer
-- first sees it expire — with a conditional update, so it is announced exactly once.
CREATE TABLE locks (
    id             TEXT NOT NULL,
    -- The request that made the lock: a repeat of it gets this lock back.
    request_id     TEXT NOT NULL,
    service        TEXT NOT NULL,
    -- NULL locks every environment of the service.
    environment    TEXT,
    mode           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    actor          JSONB NOT NULL,
    from_at        TIMESTAMPTZ NOT NULL,
    until          TIMESTAMPTZ NOT NULL,
    ended_at       TIMESTAMPTZ,
    -- Who lifted it; NULL with `ended_at` set: it expired.
    ended_by       JSONB,
    -- The unlock request: a repeat of it is answered, not refused.
    end_request_id TEXT,
    CONSTRAINT locks_pkey PRIMARY KEY (id),
    CONSTRAINT locks_request_id_key UNIQUE (request_id),
    CONSTRAINT locks_end_request_id_key UNIQUE (end_request_id)
);

-- Only open locks are read when deciding and by the expiry timer.
CREATE INDEX locks_open ON locks (service, until) WHERE ended_at IS NULL;
