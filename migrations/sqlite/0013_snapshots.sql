-- Named copies of the sandbox's tables (admin snapshot save|restore|list|delete): the rows are
-- in tables snap_<name>_<table>; this is their register.
CREATE TABLE snapshots (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    row_count BIGINT NOT NULL
);
