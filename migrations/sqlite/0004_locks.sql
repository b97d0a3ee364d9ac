-- Locks on a service (or one environment of it): who, why, until when, and how each
-- ended. A lock's end is recorded once — by an unlock or by whichever instance's timer
-- first sees it expire — with a conditional update, so it is announced exactly once.
CREATE TABLE locks (
    id             TEXT NOT NULL PRIMARY KEY,
    -- The request that made the lock: a repeat of it gets this lock back.
    request_id     TEXT NOT NULL UNIQUE,
    service        TEXT NOT NULL,
    -- NULL locks every environment of the service.
    environment    TEXT,
    mode           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    from_at        TEXT NOT NULL,
    until          TEXT NOT NULL,
    ended_at       TEXT,
    -- Who lifted it; NULL with `ended_at` set: it expired.
    ended_by       TEXT,
    -- The unlock request: a repeat of it is answered, not refused.
    end_request_id TEXT UNIQUE
) STRICT;

-- Only open locks are read when deciding and by the expiry timer.
CREATE INDEX locks_open ON locks (service, until) WHERE ended_at IS NULL;
