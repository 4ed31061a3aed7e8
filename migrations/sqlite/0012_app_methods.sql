-- An app may be limited to some methods (the products it has signed): NULL is every method,
-- otherwise a comma-separated list. A call outside it is answered 40006.
ALTER TABLE apps ADD COLUMN methods TEXT;
-- Sandbox: deliver every notification of the app twice (same notify_id), to test that the
-- merchant's handler acknowledges a repeat and applies it once.
ALTER TABLE apps ADD COLUMN notify_twice BIGINT NOT NULL DEFAULT 0;
