-- The last good copy of each remote holiday calendar (an iCalendar URL), so a restart
-- without the network still knows the holidays.
CREATE TABLE calendar_sources (
    source     TEXT NOT NULL PRIMARY KEY,
    body       TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL
);
