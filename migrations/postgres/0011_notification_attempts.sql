-- Every delivery attempt of a notification, as the console's timeline shows it: when, and
-- what came back (delivered, or the error).
CREATE TABLE notification_attempts (
    notify_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (notify_id, attempt)
);
