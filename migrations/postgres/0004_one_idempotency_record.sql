-- One idempotency record for every write method, keyed by (merchant, method, request_id):
-- the fingerprint of the canonical request and what was answered (the typed answer as JSON, or
-- a recorded refusal {"sub_code","sub_msg"} when refused = 1). Replaces the fingerprints and
-- answers that use orders and cancels each kept in their own way; the records they held are
-- copied, so a database written by the first release keeps replaying its uses and cancels.
CREATE TABLE idempotency (
    merchant_pid TEXT NOT NULL,
    method TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    refused BIGINT NOT NULL,
    answer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_pid, method, request_id)
);

INSERT INTO idempotency (merchant_pid, method, request_id, fingerprint, refused, answer, created_at)
SELECT merchant_pid, 'koubei.trade.ticket.ticketcode.use', request_id, fingerprint, closed, answer, created_at
FROM use_orders;

INSERT INTO idempotency (merchant_pid, method, request_id, fingerprint, refused, answer, created_at)
SELECT merchant_pid, 'koubei.trade.ticket.ticketcode.cancel', request_id, fingerprint, 0,
       json_build_object('request_id', request_id)::text, created_at
FROM cancels;

ALTER TABLE use_orders DROP COLUMN fingerprint;
ALTER TABLE use_orders DROP COLUMN answer;
ALTER TABLE cancels DROP COLUMN fingerprint;

-- A delay records the expiry it replaced and the new one.
ALTER TABLE ticket_trans ADD COLUMN expire_before BIGINT;
ALTER TABLE ticket_trans ADD COLUMN expire_after BIGINT;
