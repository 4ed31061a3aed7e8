-- Sandbox powers (docs: README "Testing your integration").
--
-- A merchant's test clock: its ledger and its notifications' schedule run offset_ms ahead of
-- real time. Clocks only move forward; no row means real time.
CREATE TABLE test_clocks (
    merchant_pid TEXT PRIMARY KEY REFERENCES merchants (pid),
    offset_ms BIGINT NOT NULL CHECK (offset_ms >= 0),
    updated_at BIGINT NOT NULL
);

-- Injected faults: a gateway call matching method (and app, and ticket_code when given) is
-- answered code/sub_code before its operation runs, or after it committed (after_commit = 1),
-- after latency_ms; `remaining` counts the calls left (NULL: until cleared).
CREATE TABLE faults (
    fault_id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    app_id TEXT,
    ticket_code TEXT,
    code TEXT,
    sub_code TEXT,
    sub_msg TEXT,
    after_commit BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    remaining BIGINT,
    hits BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Whose clock schedules a notification (NULL: real time, as for rows written before this).
ALTER TABLE notifications ADD COLUMN merchant_pid TEXT;
