-- The rollback hook: when each release's hook run was asked for and still has no outcome
-- (the runner starts it, or records "unknown" for one an instance was running when it
-- stopped), and which instance is running it (one at a time per release).
ALTER TABLE releases ADD COLUMN hook_due_at TEXT;
CREATE INDEX releases_hook_due ON releases (hook_due_at) WHERE hook_due_at IS NOT NULL;

CREATE TABLE hook_leases (
    release_id TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    until      TEXT NOT NULL
) STRICT;
