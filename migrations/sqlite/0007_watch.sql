-- The watch after a production deploy: when each release next needs a baseline or a
-- sample, and which instance is taking it (one at a time per release).
ALTER TABLE releases ADD COLUMN watch_due_at TEXT;
CREATE INDEX releases_watch_due ON releases (watch_due_at) WHERE watch_due_at IS NOT NULL;

CREATE TABLE watch_leases (
    release_id TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    until      TEXT NOT NULL
) STRICT;
