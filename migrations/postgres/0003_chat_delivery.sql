-- Reliable chat delivery: outbox rows are delivered lane by lane, in id order within a
-- lane, by whichever instance holds the lane's lease; the platform's ids for the
-- messages of each release are kept so later edits and replies can name them.

-- The delivery lane: messages of one lane go out strictly in order (a release's thread
-- before the cards posted in it). Rows from before this migration get their release's.
ALTER TABLE outbox ADD COLUMN lane TEXT;
UPDATE outbox SET lane = release_id;
ALTER TABLE outbox ALTER COLUMN lane SET NOT NULL;

-- A lane's backlog and its first undelivered row, read by lane in id order.
CREATE INDEX outbox_lane_pending ON outbox (lane, id) WHERE delivered_at IS NULL;

-- Who delivers each lane, until when. A lease whose `until` has passed is free: a
-- crashed holder's lanes are taken over once its leases run out. The primary key is
-- what makes a claim exclusive between instances.
CREATE TABLE outbox_leases (
    lane   TEXT NOT NULL,
    holder TEXT NOT NULL,
    until  TIMESTAMPTZ NOT NULL,
    CONSTRAINT outbox_leases_pkey PRIMARY KEY (lane)
);

-- The platform's ids of what was posted for a release (`thread`, `release`,
-- `card:3:1`, ...). The first id recorded for a key is kept.
CREATE TABLE chat_messages (
    release_id TEXT NOT NULL,
    platform   TEXT NOT NULL,
    key        TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT chat_messages_pkey PRIMARY KEY (release_id, platform, key)
);
