-- The watch after a production deploy: when each release next needs a baseline or a
-- sample, and which instance is taking it (one at a time per release).
ALTER TABLE releases ADD COLUMN watch_due_at TIMESTAMPTZ;
CREATE INDEX releases_watch_due ON releases (watch_due_at) WHERE watch_due_at IS NOT NULL;

CREATE TABLE watch_leases (
    release_id TEXT NOT NULL,
    holder     TEXT NOT NULL,
    until      TIMESTAMPTZ NOT NULL,
    CONSTRAINT watch_leases_pkey PRIMARY KEY (release_id)
);
