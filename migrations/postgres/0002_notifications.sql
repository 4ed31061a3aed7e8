-- The outbox: one row per notification, written in the same transaction as the use or cancel
-- it reports. Delivery claims a row with a lease (claimed_until, claim_token), so that with
-- several nodes each notification is attempted by one node at a time, and a node that dies
-- mid-attempt only delays it until the lease runs out.
CREATE TABLE notifications (
    notify_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    url TEXT NOT NULL,
    charset TEXT NOT NULL,
    sign_type TEXT NOT NULL,
    biz_type TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    claim_token TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
