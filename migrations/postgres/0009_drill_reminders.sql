-- Reminders of overdue rollback drills: one row per service, due date and reminder period
-- (weeks since the drill fell due), written in the transaction that queues the reminder,
-- so each is posted once however many instances or restarts try.
CREATE TABLE drill_reminders (
    service TEXT NOT NULL,
    due_at  TIMESTAMPTZ NOT NULL,
    period  BIGINT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT drill_reminders_pkey PRIMARY KEY (service, due_at, period)
);
