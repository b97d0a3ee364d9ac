-- Retention: delivered outbox rows and stored answers are removed once older than their
-- configured age ([retention]), oldest first, a small batch per statement. These indexes
-- let each batch find its rows without scanning the table.

-- Only delivered rows are ever removed; undelivered ones stay out of this index.
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE INDEX responses_created_at ON responses (created_at);
