-- The request log: every gateway call, the last few thousand, visible from every node.
-- `entry` is the whole record as JSON; the other columns are what `admin log` filters on.
-- UNLOGGED: a diagnostic log need not survive a crash, and skipping the WAL keeps it cheap.
CREATE UNLOGGED TABLE request_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    app_id TEXT NOT NULL,
    method TEXT NOT NULL,
    failed BIGINT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX request_log_at ON request_log (at);
